package ctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/shared/fieldtext"
)

// The compliance commands: exceptions, events, the fleet summary, the
// policies in force, and the helpdesk's device view.

// statusOrder is the collector's worst-first order of result statuses.
func statusOrder() []string {
	return []string{"fail", "unknown", "stale", "in_grace", "exempt", "pass", "not_applicable"}
}

func exceptionFields(e apitypes.ExceptionRecord) []field {
	return []field{{"id", e.ID}, {"status", e.Status}, {"policy_id", e.PolicyID}, {"device_id", e.DeviceID}, {"asset_tag", e.AssetTag},
		{"reason", e.Reason}, {"compensating_control", e.CompensatingControl}, {"requested_by", e.RequestedBy},
		{"created_at", at(e.CreatedAt)}, {"expires_at", at(e.ExpiresAt)}, {"approver", e.Approver}, {"denied_by", e.DeniedBy},
		{"decided_at", atp(e.DecidedAt)}, {"decision_note", e.DecisionNote}, {"revoked_at", atp(e.RevokedAt)}, {"revoked_by", e.RevokedBy}}
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
		body := apitypes.ExceptionRequest{PolicyID: policy, Device: device, AssetTag: asset, Reason: reason, CompensatingControl: control}
		if relativeExpiry().MatchString(expires) {
			body.ExpiresIn = expires
		} else {
			body.ExpiresAt = expires
		}
		return objectCommand(ctx, c, http.MethodPost, "/api/v1/exceptions", body, exceptionFields)
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
				body = apitypes.ExceptionDecision{Note: *note}
			}
			return objectCommand(ctx, c, http.MethodPost, "/api/v1/exceptions/"+url.PathEscape(c.args[0])+"/"+verb, body, exceptionFields)
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
		return listCommand(ctx, c, "/api/v1/exceptions", q, &paging{}, "exceptions",
			[]string{"ID", "STATUS", "POLICY", "DEVICE/ASSET", "EXPIRES", "REQUESTED BY", "APPROVER", "REASON"},
			func(e apitypes.ExceptionRecord) []string {
				who := e.DeviceID
				if e.AssetTag != "" {
					who = "asset " + e.AssetTag
				}
				decider := e.Approver
				if e.DeniedBy != "" {
					decider = "denied by " + e.DeniedBy
				}
				return []string{e.ID, e.Status, e.PolicyID, who, at(e.ExpiresAt), e.RequestedBy, decider, e.Reason}
			})
	}
}

func exceptionsShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodGet, "/api/v1/exceptions/"+url.PathEscape(c.args[0]), nil, exceptionFields)
	}
}

func exceptionsRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodDelete, "/api/v1/exceptions/"+url.PathEscape(c.args[0]), nil, exceptionFields)
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
		return listCommand(ctx, c, "/api/v1/events", q, p, "events",
			[]string{"AT", "KIND", "DEVICE", "ASSET", "SUBJECT"},
			func(e apitypes.EventRecord) []string {
				return []string{at(e.At), e.Kind, e.DeviceID, e.AssetTag, e.Subject}
			})
	}
}

func complianceSummary(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		sum, done, err := fetch[apitypes.ComplianceSummary](ctx, c, http.MethodGet, "/api/v1/compliance/summary", nil, nil)
		if done || err != nil {
			return err
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
		return listCommand(ctx, c, "/api/v1/policies", url.Values{}, &paging{}, "policies",
			[]string{"ID", "SEVERITY", "KIND", "GRACE", "TITLE"},
			func(p apitypes.Policy) []string {
				return []string{p.ID, p.Severity, p.Kind, optional(p.GraceDays), p.Title}
			})
	}
}

func policiesShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodGet, "/api/v1/policies/"+url.PathEscape(c.args[0]), nil, func(p apitypes.Policy) []field {
			// Left out of the JSON when empty, so printed empty then.
			scope, params := compact(p.Scope), compact(p.Params)
			if scope == "{}" {
				scope = ""
			}
			if params == "{}" {
				params = ""
			}
			return []field{{"id", p.ID}, {"title", p.Title}, {"description", p.Description}, {"severity", p.Severity},
				{"scope", scope}, {"kind", p.Kind}, {"params", params}, {"expr", p.Expr}, {"fail_reason", p.FailReason},
				{"grace_days", optional(p.GraceDays)}, {"validity_days", optional(p.ValidityDays)}}
		})
	}
}

// devicesShowDetail prints the device's fields, its register view,
// flags and enrolment, then its policy results with their reasons, open exceptions and recent
// changes: what the helpdesk needs on one screen.
func devicesShowDetail(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		d, done, err := fetch[apitypes.DeviceDetail](ctx, c, http.MethodGet, "/api/v1/devices/"+url.PathEscape(c.args[0]), nil, nil)
		if done || err != nil {
			return err
		}
		c.printFields(deviceFields(d.Device))
		out := c.env.Stdout
		// The register's view and the flags read better as their own
		// sections than as JSON on one line.
		if a := d.Asset; a != nil {
			fmt.Fprintln(out, "\nAsset (register):")
			c.printFields([]field{{"asset_tag", a.AssetTag}, {"owner", a.Owner}, {"owner_email", a.OwnerEmail},
				{"classification", a.Classification}, {"type", a.Type}, {"location", a.Location}, {"status", a.Status}, {"model", a.Model}})
		}
		if len(d.FlagDetails) > 0 {
			fmt.Fprintln(out, "\nFlags:")
			table(c, []string{"FLAG", "SEVERITY", "SINCE", "DETAIL"}, d.FlagDetails, func(f apitypes.Flag) []string {
				return []string{f.Flag, f.Severity, at(f.Since), f.Detail}
			})
		}
		c.printEnrolment(d.Device)
		state := d.Compliance.State
		if state == "" {
			state = "not evaluated yet"
		}
		fmt.Fprintf(out, "\nCompliance: %s\n", fieldtext.Escape(state))
		if len(d.Compliance.Results) > 0 {
			table(c, []string{"POLICY", "STATUS", "SEVERITY", "REASON", "EXCEPTION"}, d.Compliance.Results, func(r apitypes.ResultRecord) []string {
				return []string{r.PolicyID, r.Status, r.Severity, r.Reason, r.ExceptionID}
			})
		}
		if len(d.Exceptions) > 0 {
			fmt.Fprintln(out, "\nOpen exceptions:")
			table(c, []string{"ID", "POLICY", "EXPIRES", "APPROVER", "REASON", "CONTROL"}, d.Exceptions, func(e apitypes.ExceptionRecord) []string {
				return []string{e.ID, e.PolicyID, at(e.ExpiresAt), e.Approver, e.Reason, e.CompensatingControl}
			})
		} else {
			fmt.Fprintln(out, "\nOpen exceptions: none")
		}
		if len(d.RecentChanges) > 0 {
			fmt.Fprintln(out, "\nRecent changes:")
			table(c, []string{"AT", "KIND", "SUBJECT", "OLD", "NEW"}, d.RecentChanges, func(e apitypes.HistoryEntry) []string {
				return []string{at(e.At), e.Kind, e.Subject, e.Old, e.New}
			})
		}
		return nil
	}
}

// table prints items as an indented table under a section, cleaning
// every cell.
func table[T any](c *call, header []string, items []T, row func(T) []string) {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
	for _, it := range items {
		cells := row(it)
		for i := range cells {
			cells[i] = fieldtext.Escape(cells[i])
		}
		fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// optional is a count that the API leaves out when it is zero, "" then.
func optional(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
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
