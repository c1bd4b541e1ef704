package ctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rosterhq/roster/collector/apitypes"
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
		m, done, err := fetch[apitypes.MergeResult](ctx, c, http.MethodPost, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/merge", nil, apitypes.MergeRequest{Into: into})
		if done || err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "%s continues as %s (revoked, merged_into %s); identity conflict cleared\n",
			fieldtext.Escape(m.Merged.ID), fieldtext.Escape(m.Device.ID), fieldtext.Escape(m.Merged.MergedInto))
		c.printFields(deviceFields(m.Device))
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
		return objectCommand(ctx, c, http.MethodPost, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/allow-reenroll",
			apitypes.AllowReenrollRequest{Within: within}, func(d apitypes.Device) []field {
				return append(deviceFields(d), field{"reenroll_allowed_until", atp(d.ReenrollAllowedUntil)})
			})
	}
}

// printEnrolment prints the enrolment sections of `devices show`: which
// secret and rule enrolled the device, and its open identity conflicts.
func (c *call) printEnrolment(d apitypes.Device) {
	out := c.env.Stdout
	if e := d.Enrolment; e != nil {
		fmt.Fprintln(out, "\nEnrolment:")
		c.printFields([]field{{"at", at(e.At)}, {"rule", e.Rule}, {"secret_label", e.SecretLabel}, {"secret_id", e.SecretID},
			{"matched_by", e.MatchedBy}, {"matched_device", e.MatchedDevice}, {"cert_serial", e.CertSerial}, {"detail", e.Detail}})
	}
	if d.ReenrollAllowedUntil != nil {
		fmt.Fprintf(out, "\nReinstall allowed until: %s\n", fieldtext.Escape(atp(d.ReenrollAllowedUntil)))
	}
	if d.MergedInto != "" {
		fmt.Fprintf(out, "\nMerged into: %s\n", fieldtext.Escape(d.MergedInto))
	}
	if len(d.IdentityConflicts) > 0 {
		fmt.Fprintln(out, "\nIdentity conflicts (resolve: rosterctl devices merge NEW --into OLD, or devices revoke):")
		table(c, []string{"NEW DEVICE", "LIVE DEVICE", "MATCHED BY", "SINCE"}, d.IdentityConflicts, func(r apitypes.IdentityConflict) []string {
			return []string{r.Device, r.Other, r.MatchedBy, at(r.Since)}
		})
	}
}
