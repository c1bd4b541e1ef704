package ctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// devicesMerge is `devices merge NEW --into OLD`: resolve an identity
// conflict by declaring NEW (the record whose agent runs now) the same
// machine as OLD. NEW continues with OLD's history; OLD is revoked.
func devicesMerge(c *call) func(context.Context) error {
	var into string
	c.fs.StringVar(&into, "into", "", "the older `device` the new record duplicates (required)")
	return func(ctx context.Context) error {
		if strings.TrimSpace(into) == "" {
			return usageErrorf("devices merge: --into DEVICE is required")
		}
		m, done, err := c.fetch(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/merge", nil, map[string]string{"into": into})
		if done || err != nil {
			return err
		}
		dev, _ := m["device"].(map[string]any)
		old, _ := m["merged"].(map[string]any)
		fmt.Fprintf(c.env.Stdout, "%s continues as %s (revoked, merged_into %s); identity conflict cleared\n",
			fieldtext.Escape(str(old["id"])), fieldtext.Escape(str(dev["id"])), fieldtext.Escape(str(old["merged_into"])))
		c.printObject(dev, deviceKeys())
		return nil
	}
}

// devicesAllowReenroll is `devices allow-reenroll DEVICE [--within 24h]`:
// the next enrolment matching DEVICE within the window continues its
// record although the device looks alive (a planned reinstall).
func devicesAllowReenroll(c *call) func(context.Context) error {
	var within string
	c.fs.StringVar(&within, "within", "24h", "how long the allowance lasts (`24h`, 2d; at most 30d)")
	return func(ctx context.Context) error {
		return c.objectCommand(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/allow-reenroll",
			map[string]string{"within": within}, append(deviceKeys(), "reenroll_allowed_until"))
	}
}

// printEnrolment prints the enrolment sections of `devices show`: which
// secret and rule enrolled the device, and its open identity conflicts.
func (c *call) printEnrolment(m map[string]any) {
	out := c.env.Stdout
	if e, _ := m["enrolment"].(map[string]any); len(e) > 0 {
		fmt.Fprintln(out, "\nEnrolment:")
		c.printObject(e, []string{"at", "rule", "secret_label", "secret_id", "matched_by", "matched_device", "cert_serial", "detail"})
	}
	if until := str(m["reenroll_allowed_until"]); until != "" {
		fmt.Fprintf(out, "\nReinstall allowed until: %s\n", fieldtext.Escape(until))
	}
	if into := str(m["merged_into"]); into != "" {
		fmt.Fprintf(out, "\nMerged into: %s\n", fieldtext.Escape(into))
	}
	if cs, _ := m["identity_conflicts"].([]any); len(cs) > 0 {
		fmt.Fprintln(out, "\nIdentity conflicts (resolve: rosterctl devices merge NEW --into OLD, or devices revoke):")
		c.table([]string{"NEW DEVICE", "LIVE DEVICE", "MATCHED BY", "SINCE"}, cs, func(r map[string]any) []string {
			return []string{str(r["device_id"]), str(r["other_id"]), str(r["matched_by"]), str(r["since"])}
		})
	}
}
