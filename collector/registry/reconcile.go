package registry

// The reconciliation report: the fixed-asset register held against what
// the fleet reports, as the periodic audit asks for it. Devices report no
// owner or location, but organisations encode them (or the asset tag) in
// hostnames; a naming rule, a regular expression with named groups tag,
// owner and location, extracts them so they can be compared with the
// register.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/register"
)

// ParseHostnameRule compiles a naming rule and checks it names at least
// one of the groups tag, owner and location, and no other.
func ParseHostnameRule(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, ErrInvalid.Errorf("hostname rule: %v", err)
	}
	n := 0
	for _, name := range re.SubexpNames()[1:] {
		switch name {
		case "tag", "owner", "location":
			n++
		case "":
		default:
			return nil, ErrInvalid.Errorf("hostname rule: group %q (named groups are tag, owner and location)", name)
		}
	}
	if n == 0 {
		return nil, ErrInvalid.Errorf("hostname rule %q names no group: use (?P<tag>...), (?P<owner>...) or (?P<location>...)", expr)
	}
	return re, nil
}

// Reconciliation is the report (API keys).
type Reconciliation struct {
	GeneratedAt  time.Time           `json:"generated_at"`
	HostnameRule string              `json:"hostname_rule"`
	Summary      ReconcileSummary    `json:"summary"`
	Matched      []ReconcileMatch    `json:"matched"`
	Unregistered []ReconcileDevice   `json:"unregistered"`
	Missing      []ReconcileAsset    `json:"missing"`
	NotInService []ReconcileMatch    `json:"not_in_service"`
	Mismatches   []ReconcileMismatch `json:"mismatches"`
}

// ReconcileSummary counts each section.
type ReconcileSummary struct {
	Matched      int `json:"matched"`
	Unregistered int `json:"unregistered"`
	Missing      int `json:"missing"`
	NotInService int `json:"not_in_service"`
	Mismatches   int `json:"mismatches"`
}

// ReconcileMatch is a linked pair.
type ReconcileMatch struct {
	AssetTag string `json:"asset_tag"`
	Status   string `json:"status"`
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	LinkedBy string `json:"linked_by"`
	LastSeen string `json:"last_seen"`
	Severity string `json:"severity,omitempty"`
}

// ReconcileDevice is a device no asset matches.
type ReconcileDevice struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Serial   string `json:"system_serial"`
	LastSeen string `json:"last_seen"`
	Since    string `json:"since"`
}

// ReconcileAsset is an in_service asset no device vouches for.
type ReconcileAsset struct {
	AssetTag string `json:"asset_tag"`
	Serial   string `json:"serial"`
	Owner    string `json:"owner"`
	Location string `json:"location"`
	DeviceID string `json:"device_id"`
	LastSeen string `json:"last_seen"`
	Since    string `json:"since"`
	Detail   string `json:"detail"`
}

// ReconcileMismatch is a field where the register and the device's
// hostname disagree; Field "hostname" means it does not follow the rule.
type ReconcileMismatch struct {
	AssetTag string `json:"asset_tag"`
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Field    string `json:"field"`
	Register string `json:"register"`
	Reported string `json:"reported"`
}

// Reconcile builds the report as of now from the stored links, with flags
// computed for now (so a missing asset shows even before the next
// refresh; since is the stored first-seen time, else now). rule may be nil.
func (r *Registry) Reconcile(ctx context.Context, rule *regexp.Regexp, now time.Time) (Reconciliation, error) {
	s, err := r.loadAll(ctx, r.db)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("reconcile: %w", err)
	}
	now = now.UTC()
	out := Reconciliation{GeneratedAt: now, Matched: []ReconcileMatch{}, Unregistered: []ReconcileDevice{}, Missing: []ReconcileAsset{},
		NotInService: []ReconcileMatch{}, Mismatches: []ReconcileMismatch{}}
	if rule != nil {
		out.HostnameRule = rule.String()
	}
	want := register.ComputeFlags(s.Scope, now, r.missingWindow())
	since := func(k register.FlagKey) string {
		if v, ok := s.flags[k]; ok {
			return v.Since
		}
		return fmtTime(now)
	}
	for _, l := range s.Links {
		a, d := s.Assets[l.AssetID], s.Devices[l.DeviceID]
		if a == nil || d == nil {
			continue
		}
		m := ReconcileMatch{AssetTag: a.Tag, Status: a.Status, DeviceID: d.ID, Hostname: d.Hostname, LinkedBy: l.How, LastSeen: d.LastSeen}
		out.Matched = append(out.Matched, m)
		if v, ok := want[register.FlagKey{Subject: register.SubjectDevice, ID: d.ID, Flag: FlagNotInService}]; ok {
			m.Severity = v.Severity
			out.NotInService = append(out.NotInService, m)
		}
		if rule != nil {
			out.Mismatches = append(out.Mismatches, hostnameMismatches(rule, a, d)...)
		}
	}
	for k, v := range want {
		switch k.Flag {
		case FlagUnregistered:
			d := s.Devices[k.ID]
			out.Unregistered = append(out.Unregistered, ReconcileDevice{DeviceID: d.ID, Hostname: d.Hostname, Serial: d.Serial, LastSeen: d.LastSeen, Since: since(k)})
		case FlagMissing:
			a := s.Assets[k.ID]
			m := ReconcileAsset{AssetTag: a.Tag, Serial: a.Serial, Owner: a.Owner, Location: a.Location, Since: since(k), Detail: v.Detail}
			if l, ok := s.Links[a.ID]; ok {
				m.DeviceID, m.LastSeen = l.DeviceID, s.Devices[l.DeviceID].LastSeen
			}
			out.Missing = append(out.Missing, m)
		}
	}
	slices.SortFunc(out.Matched, func(a, b ReconcileMatch) int { return strings.Compare(tagKey(a.AssetTag), tagKey(b.AssetTag)) })
	slices.SortFunc(out.NotInService, func(a, b ReconcileMatch) int { return strings.Compare(tagKey(a.AssetTag), tagKey(b.AssetTag)) })
	slices.SortFunc(out.Missing, func(a, b ReconcileAsset) int { return strings.Compare(tagKey(a.AssetTag), tagKey(b.AssetTag)) })
	slices.SortFunc(out.Unregistered, func(a, b ReconcileDevice) int {
		return strings.Compare(strings.ToLower(a.Hostname)+"\x00"+a.DeviceID, strings.ToLower(b.Hostname)+"\x00"+b.DeviceID)
	})
	slices.SortStableFunc(out.Mismatches, func(a, b ReconcileMismatch) int { return strings.Compare(tagKey(a.AssetTag), tagKey(b.AssetTag)) })
	out.Summary = ReconcileSummary{Matched: len(out.Matched), Unregistered: len(out.Unregistered), Missing: len(out.Missing),
		NotInService: len(out.NotInService), Mismatches: len(out.Mismatches)}
	return out, nil
}

// hostnameMismatches compares what rule extracts from the device's
// hostname with the register, case-insensitively. An owner matches the
// asset's owner or the local part of its owner_email; a register field
// left empty is not compared.
func hostnameMismatches(rule *regexp.Regexp, a *register.Asset, d *register.Device) []ReconcileMismatch {
	mm := func(field, reg, rep string) ReconcileMismatch {
		return ReconcileMismatch{AssetTag: a.Tag, DeviceID: d.ID, Hostname: d.Hostname, Field: field, Register: reg, Reported: rep}
	}
	sub := rule.FindStringSubmatch(d.Hostname)
	if sub == nil {
		return []ReconcileMismatch{mm("hostname", rule.String(), d.Hostname)}
	}
	var out []ReconcileMismatch
	for i, name := range rule.SubexpNames() {
		got := sub[i]
		if name == "" || i == 0 || got == "" {
			continue
		}
		switch name {
		case "tag":
			if !strings.EqualFold(got, a.Tag) {
				out = append(out, mm("asset_tag", a.Tag, got))
			}
		case "owner":
			local, _, _ := strings.Cut(a.OwnerEmail, "@")
			if (a.Owner != "" || local != "") && !strings.EqualFold(got, a.Owner) && !strings.EqualFold(got, local) {
				reg := a.Owner
				if a.OwnerEmail != "" {
					reg = strings.TrimSpace(reg + " <" + a.OwnerEmail + ">")
				}
				out = append(out, mm("owner", reg, got))
			}
		case "location":
			if a.Location != "" && !strings.EqualFold(got, a.Location) {
				out = append(out, mm("location", a.Location, got))
			}
		}
	}
	return out
}
