package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// The compliance commands: exceptions, events, the fleet summary, the
// policies in force, and the helpdesk's device view.

// statusOrder is the collector's worst-first order of result statuses.
func statusOrder() []string {
	return []string{"fail", "unknown", "stale", "in_grace", "exempt", "pass", "not_applicable"}
}

func exceptionKeys() []string {
	return []string{"id", "status", "policy_id", "device_id", "asset_tag", "reason", "compensating_control", "requested_by",
		"created_at", "expires_at", "approver", "denied_by", "decided_at", "decision_note", "revoked_at", "revoked_by"}
}

// relativeExpiry matches --expires given as a lifetime rather than a date.
func relativeExpiry() *regexp.Regexp { return regexp.MustCompile(`^\d+[dhm]$`) }

// exceptionsRequest asks for an exception (also `exceptions add`). It is
// pending until someone else approves it; the requester is the token's
// principal.
func exceptionsRequest(c *call) func(context.Context) error {
	var device, asset, policy, reason, control, expires string
	c.fs.StringVar(&device, "device", "", "the device `REF` (id, serial, hostname or asset tag)")
	c.fs.StringVar(&asset, "asset", "", "the asset `TAG` (whichever device is linked to it)")
	c.fs.StringVar(&policy, "policy", "", "the policy `ID` waived")
	c.fs.StringVar(&reason, "reason", "", "why the policy cannot be met")
	c.fs.StringVar(&control, "control", "", "the compensating control in place")
	c.fs.StringVar(&expires, "expires", "", "expiry: a date (2026-12-31), RFC 3339, or a lifetime (30d, 12h)")
	approver := c.fs.String("approver", "", "no longer accepted: the approver is whoever runs `exceptions approve ID`")
	return func(ctx context.Context) error {
		switch {
		case *approver != "":
			return usageErrorf("--approver is no longer accepted: the exception is requested pending, and someone else with the approve permission runs `rosterctl exceptions approve ID`")
		case (device == "") == (asset == ""):
			return usageErrorf("give --device REF or --asset TAG")
		case policy == "" || reason == "" || control == "" || expires == "":
			return usageErrorf("--policy, --reason, --control and --expires are required")
		}
		if err := expiresFlag(expires); err != nil {
			return err
		}
		body := map[string]string{"policy_id": policy, "reason": reason, "compensating_control": control}
		if device != "" {
			body["device"] = device
		} else {
			body["asset_tag"] = asset
		}
		if relativeExpiry().MatchString(expires) {
			body["expires_in"] = expires
		} else {
			body["expires_at"] = expires
		}
		return c.objectCommand(ctx, http.MethodPost, "/api/v1/exceptions", body, exceptionKeys())
	}
}

// exceptionsDecide approves or denies a pending exception as the token's
// principal, who must not be its requester.
func exceptionsDecide(verb string) func(c *call) func(context.Context) error {
	return func(c *call) func(context.Context) error {
		note := c.fs.String("note", "", "a note kept with the decision (the ticket, the risk accepted)")
		return func(ctx context.Context) error {
			var body any
			if *note != "" {
				body = map[string]string{"note": *note}
			}
			return c.objectCommand(ctx, http.MethodPost, "/api/v1/exceptions/"+url.PathEscape(c.args[0])+"/"+verb, body, exceptionKeys())
		}
	}
}

func exceptionsList(c *call) func(context.Context) error {
	var active bool
	var status, device, policy string
	c.fs.BoolVar(&active, "active", false, "only approved exceptions not expired (--status active)")
	c.fs.StringVar(&status, "status", "", "only exceptions in this `status`: pending, active, denied, expired or revoked")
	c.fs.StringVar(&device, "device", "", "only this device's (and its asset's) exceptions")
	c.fs.StringVar(&policy, "policy", "", "only exceptions to this policy `ID`")
	return func(ctx context.Context) error {
		q := url.Values{}
		if active {
			q.Set("active", "true")
		}
		if status != "" {
			q.Set("status", status)
		}
		if device != "" {
			q.Set("device", device)
		}
		if policy != "" {
			q.Set("policy", policy)
		}
		return c.listCommand(ctx, "/api/v1/exceptions", q, &paging{}, "exceptions",
			[]string{"ID", "STATUS", "POLICY", "DEVICE/ASSET", "EXPIRES", "REQUESTED BY", "APPROVER", "REASON"},
			func(m map[string]any) []string {
				who := str(m["device_id"])
				if t := str(m["asset_tag"]); t != "" {
					who = "asset " + t
				}
				decider := str(m["approver"])
				if d := str(m["denied_by"]); d != "" {
					decider = "denied by " + d
				}
				return []string{str(m["id"]), str(m["status"]), str(m["policy_id"]), who, str(m["expires_at"]), str(m["requested_by"]), decider, str(m["reason"])}
			})
	}
}

func exceptionsShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodGet, "/api/v1/exceptions/"+url.PathEscape(c.args[0]), nil, exceptionKeys())
	}
}

func exceptionsRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodDelete, "/api/v1/exceptions/"+url.PathEscape(c.args[0]), nil, exceptionKeys())
	}
}

func eventsList(c *call) func(context.Context) error {
	var since, until, kind, device string
	c.fs.StringVar(&since, "since", "", "events at or after `T`")
	c.fs.StringVar(&until, "until", "", "events before `T`")
	c.fs.StringVar(&kind, "kind", "", "only this `kind` (compliance.changed, device.*, ...)")
	c.fs.StringVar(&device, "device", "", "only this device `REF`")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		if kind != "" {
			q.Set("kind", kind)
		}
		if device != "" {
			q.Set("device", device)
		}
		if err := c.timeRange(q, since, until); err != nil {
			return err
		}
		if err := p.query(q); err != nil {
			return err
		}
		return c.listCommand(ctx, "/api/v1/events", q, p, "events",
			[]string{"AT", "KIND", "DEVICE", "ASSET", "SUBJECT"},
			func(m map[string]any) []string {
				return []string{str(m["at"]), str(m["kind"]), str(m["device_id"]), str(m["asset_tag"]), str(m["subject"])}
			})
	}
}

func complianceSummary(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/compliance/summary", nil, nil)
		if err != nil {
			return err
		}
		if *c.json {
			return c.printJSON(raw)
		}
		var sum struct {
			Devices  int            `json:"devices"`
			ByState  map[string]int `json:"by_state"`
			Policies []struct {
				ID       string         `json:"id"`
				Title    string         `json:"title"`
				Severity string         `json:"severity"`
				Counts   map[string]int `json:"counts"`
			} `json:"policies"`
		}
		if err := json.Unmarshal(raw, &sum); err != nil {
			return fmt.Errorf("decode collector answer: %w", err)
		}
		order := statusOrder()
		tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "DEVICES\t%s\n", strings.ToUpper(strings.Join(order, "\t")))
		cells := []string{fmt.Sprint(sum.Devices)}
		for _, s := range order {
			cells = append(cells, fmt.Sprint(sum.ByState[s]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "POLICY\tSEVERITY\t%s\tTITLE\n", strings.ToUpper(strings.Join(order, "\t")))
		for _, p := range sum.Policies {
			cells := []string{fieldtext.Escape(p.ID), fieldtext.Escape(p.Severity)}
			for _, s := range order {
				cells = append(cells, fmt.Sprint(p.Counts[s]))
			}
			fmt.Fprintln(tw, strings.Join(append(cells, fieldtext.Escape(p.Title)), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
		return nil
	}
}

func policiesList(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.listCommand(ctx, "/api/v1/policies", url.Values{}, &paging{}, "policies",
			[]string{"ID", "SEVERITY", "KIND", "GRACE", "TITLE"},
			func(m map[string]any) []string {
				return []string{str(m["id"]), str(m["severity"]), str(m["kind"]), str(m["grace_days"]), str(m["title"])}
			})
	}
}

func policiesShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodGet, "/api/v1/policies/"+url.PathEscape(c.args[0]), nil,
			[]string{"id", "title", "description", "severity", "scope", "kind", "params", "expr", "fail_reason", "grace_days", "validity_days"})
	}
}

// devicesShowDetail prints the device's keys, whatever the register adds,
// then its policy results with their reasons, open exceptions and recent
// changes: what the helpdesk needs on one screen.
func devicesShowDetail(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		m, done, err := c.fetch(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(c.args[0]), nil, nil)
		if done || err != nil {
			return err
		}
		keys := deviceKeys()
		sections := []string{"compliance", "exceptions", "recent_changes", "asset", "flag_details",
			"enrolment", "enrolments", "identity_conflicts", "reenroll_allowed_until", "merged_into"}
		var extra []string
		for k := range m {
			if !slices.Contains(keys, k) && !slices.Contains(sections, k) {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		c.printObject(m, append(keys, extra...))
		out := c.env.Stdout
		// The register's view and the flags read better as their own
		// sections than as JSON on one line.
		if a, _ := m["asset"].(map[string]any); len(a) > 0 {
			fmt.Fprintln(out, "\nAsset (register):")
			c.printObject(a, []string{"asset_tag", "owner", "owner_email", "classification", "type", "location", "status", "model"})
		}
		if flags, _ := m["flag_details"].([]any); len(flags) > 0 {
			fmt.Fprintln(out, "\nFlags:")
			c.table([]string{"FLAG", "SEVERITY", "SINCE", "DETAIL"}, flags, func(r map[string]any) []string {
				return []string{str(r["flag"]), str(r["severity"]), str(r["since"]), str(r["detail"])}
			})
		}
		c.printEnrolment(m)
		comp, _ := m["compliance"].(map[string]any)
		state := str(comp["state"])
		if state == "" {
			state = "not evaluated yet"
		}
		fmt.Fprintf(out, "\nCompliance: %s\n", fieldtext.Escape(state))
		if results, _ := comp["results"].([]any); len(results) > 0 {
			c.table([]string{"POLICY", "STATUS", "SEVERITY", "REASON", "EXCEPTION"}, results, func(r map[string]any) []string {
				return []string{str(r["policy_id"]), str(r["status"]), str(r["severity"]), str(r["reason"]), str(r["exception_id"])}
			})
		}
		if excs, _ := m["exceptions"].([]any); len(excs) > 0 {
			fmt.Fprintln(out, "\nOpen exceptions:")
			c.table([]string{"ID", "POLICY", "EXPIRES", "APPROVER", "REASON", "CONTROL"}, excs, func(r map[string]any) []string {
				return []string{str(r["id"]), str(r["policy_id"]), str(r["expires_at"]), str(r["approver"]), str(r["reason"]), str(r["compensating_control"])}
			})
		} else {
			fmt.Fprintln(out, "\nOpen exceptions: none")
		}
		if changes, _ := m["recent_changes"].([]any); len(changes) > 0 {
			fmt.Fprintln(out, "\nRecent changes:")
			c.table([]string{"AT", "KIND", "SUBJECT", "OLD", "NEW"}, changes, func(r map[string]any) []string {
				return []string{str(r["at"]), str(r["kind"]), str(r["subject"]), str(r["old"]), str(r["new"])}
			})
		}
		return nil
	}
}

// table prints decoded JSON objects as a table, cleaning every cell.
func (c *call) table(header []string, items []any, row func(map[string]any) []string) {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
	for _, it := range items {
		m, _ := it.(map[string]any)
		cells := row(m)
		for i := range cells {
			cells[i] = fieldtext.Escape(cells[i])
		}
		fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// expiresFlag checks --expires locally so a typo is a usage error, not a
// round trip; the collector still decides against its maximum.
func expiresFlag(s string) error {
	if relativeExpiry().MatchString(s) {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return nil
	}
	return usageErrorf("--expires %q: want a date (2026-12-31), RFC 3339, or a lifetime such as 30d", s)
}
