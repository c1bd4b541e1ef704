package evidence

import (
	"context"
	"strconv"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
)

// policiesFile is compliance/policies.json: the baseline in force at
// export and every policy set the collector has stored, newest first.
type policiesFile struct {
	InForce  registry.PolicySetRecord   `json:"in_force"`
	Policies []compliance.Policy        `json:"policies"`
	History  []registry.PolicySetRecord `json:"history"`
}

// compliance writes the baselines, each device's status per policy at the
// period's start and every transition during it (compliance history), and
// the daily compliance rate per policy and for the fleet.
func (b *builder) compliance(ctx context.Context) error {
	set, rec, err := b.reg.PolicySet(ctx)
	if err != nil {
		return err
	}
	hist, err := b.reg.PolicySetHistory(ctx)
	if err != nil {
		return err
	}
	pf := policiesFile{InForce: rec, Policies: []compliance.Policy{}, History: hist}
	if set != nil {
		pf.Policies = set.Policies()
	}
	b.titles = map[string]string{}
	for _, p := range pf.Policies {
		b.titles[p.ID] = p.Title
	}
	if err := b.writeJSON("compliance/policies.json", pf); err != nil {
		return err
	}

	f, err := b.createCSV("compliance/states-at-start.csv", "device_id", "policy_id", "status", "since", "reason")
	if err != nil {
		return err
	}
	err = b.reg.ComplianceStatesAt(ctx, registry.HistoryFilter{To: b.opt.From}, func(s registry.PolicyState) error {
		return f.row(s.DeviceID, s.PolicyID, s.Status, ts(s.Since), s.Reason)
	})
	if err != nil {
		return err
	}
	if err := f.close(); err != nil {
		return err
	}
	b.count("states at start", f.rows)

	if f, err = b.createCSV("compliance/transitions.csv", "at", "device_id", "policy_id", "previous", "status", "reason"); err != nil {
		return err
	}
	err = b.reg.ComplianceTransitions(ctx, registry.HistoryFilter{From: b.opt.From, To: b.opt.To}, func(t registry.ComplianceTransition) error {
		return f.row(ts(t.At), t.DeviceID, t.PolicyID, t.Previous, t.Status, t.Reason)
	})
	if err != nil {
		return err
	}
	if err := f.close(); err != nil {
		return err
	}
	b.count("transitions", f.rows)

	if b.rates, err = b.reg.DailyComplianceRates(ctx, "", b.opt.From, b.opt.To); err != nil {
		return err
	}
	if f, err = b.createCSV("compliance/daily-rates.csv", "day", "policy_id", "pass", "fail", "in_grace", "exempt", "unknown", "stale", "in_scope", "compliant"); err != nil {
		return err
	}
	for _, d := range b.rates {
		itoa := strconv.Itoa
		if err := f.row(d.Day, orFleet(d.PolicyID), itoa(d.Pass), itoa(d.Fail), itoa(d.InGrace), itoa(d.Exempt), itoa(d.Unknown), itoa(d.Stale),
			itoa(d.InScope), strconv.FormatFloat(d.Compliant, 'f', 4, 64)); err != nil {
			return err
		}
	}
	return f.close()
}

// fleetID is how the files name the fleet row (DayRate.PolicyID "").
const fleetID = "fleet"

func orFleet(policy string) string {
	if policy == "" {
		return fleetID
	}
	return policy
}
