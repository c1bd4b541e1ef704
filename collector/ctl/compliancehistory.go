package ctl

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/shared/fieldtext"
)

// complianceHistory is `compliance history`: with a DEVICE, each policy's
// status when the period began and then every change in it
// (GET /api/v1/compliance/history); with only --policy, one row per UTC
// day with the devices by status and the compliant share
// (GET /api/v1/compliance/daily). A table by default, --csv or --json.
func complianceHistory(c *call) func(context.Context) error {
	var policy, from, to string
	var asCSV bool
	c.fs.StringVar(&policy, "policy", "", "the policy `ID` (with DEVICE: only that policy's history)")
	c.fs.StringVar(&from, "from", "", "start of the period, inclusive: a date (UTC midnight), RFC 3339 or an age such as 90d (default: 30 days before --to)")
	c.fs.StringVar(&to, "to", "", "end of the period, exclusive (default: now)")
	c.fs.BoolVar(&asCSV, "csv", false, "print CSV")
	return func(ctx context.Context) error {
		switch {
		case asCSV && *c.json:
			return usageErrorf("compliance history: --csv and --json exclude each other")
		case len(c.args) == 0 && policy == "":
			return usageErrorf("compliance history: give a DEVICE, or --policy ID for the daily rates")
		}
		q := url.Values{}
		if err := c.periodParam(q, "from", from); err != nil {
			return err
		}
		if err := c.periodParam(q, "to", to); err != nil {
			return err
		}
		if policy != "" {
			q.Set("policy", policy)
		}
		if len(c.args) == 0 {
			d, done, err := fetch[apitypes.DailyCompliance](ctx, c, http.MethodGet, "/api/v1/compliance/daily", q, nil)
			if done || err != nil {
				return err
			}
			return c.printRows(asCSV, dailyRows(d))
		}
		q.Set("device", c.args[0])
		h, done, err := fetch[apitypes.ComplianceHistory](ctx, c, http.MethodGet, "/api/v1/compliance/history", q, nil)
		if done || err != nil {
			return err
		}
		if !asCSV {
			fmt.Fprintf(c.env.Stdout, "device %s (%s), %s to %s\n\n", h.DeviceID, fieldtext.Escape(h.Hostname), at(h.From), at(h.To))
		}
		return c.printRows(asCSV, historyRows(h))
	}
}

// periodParam passes a --from/--to flag on: a date as the date (the API
// reads it as UTC midnight), anything else parseTime takes as RFC 3339.
func (c *call) periodParam(q url.Values, name, value string) error {
	if value == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, value); err == nil {
		q.Set(name, value)
		return nil
	}
	return c.timeParam(q, name, name, value)
}

// historyRows are a device's states when the period began (kind "state",
// at the period's start) and then its transitions (kind "change").
func historyRows(h apitypes.ComplianceHistory) [][]string {
	rows := [][]string{{"KIND", "AT", "POLICY", "STATUS", "PREVIOUS", "SINCE", "REASON"}}
	for _, s := range h.States {
		rows = append(rows, []string{"state", at(h.From), s.PolicyID, s.Status, "", at(s.Since), s.Reason})
	}
	for _, t := range h.Transitions {
		rows = append(rows, []string{"change", at(t.At), t.PolicyID, t.Status, t.Previous, "", t.Reason})
	}
	return rows
}

// dailyRows are one row per day and policy ("" is the fleet), the
// compliant share as a percentage.
func dailyRows(d apitypes.DailyCompliance) [][]string {
	rows := [][]string{{"DAY", "POLICY", "IN_SCOPE", "PASS", "FAIL", "IN_GRACE", "EXEMPT", "UNKNOWN", "STALE", "COMPLIANT_PERCENT"}}
	for _, r := range d.Days {
		policy := r.PolicyID
		if policy == "" {
			policy = "(fleet)"
		}
		pct := ""
		if r.InScope > 0 {
			pct = strconv.FormatFloat(100*r.Compliant, 'f', 1, 64)
		}
		rows = append(rows, []string{r.Day, policy, strconv.Itoa(r.InScope), strconv.Itoa(r.Pass), strconv.Itoa(r.Fail), strconv.Itoa(r.InGrace),
			strconv.Itoa(r.Exempt), strconv.Itoa(r.Unknown), strconv.Itoa(r.Stale), pct})
	}
	return rows
}

// printRows prints rows (the first is the header) as a table or as CSV,
// each cell escaped and, in CSV, guarded against spreadsheet formulas.
func (c *call) printRows(asCSV bool, rows [][]string) error {
	if !asCSV {
		tableRows(c, rows[0], rows[1:])
		return nil
	}
	w := csv.NewWriter(c.env.Stdout)
	for i, r := range rows {
		out := make([]string, len(r))
		for j, cell := range r {
			if i == 0 {
				cell = strings.ToLower(cell)
			}
			out[j] = assetcsv.Guard(fieldtext.Escape(cell))
		}
		if err := w.Write(out); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
	}
	w.Flush()
	return w.Error()
}
