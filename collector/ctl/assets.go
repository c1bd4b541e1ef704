package ctl

// The asset register commands: assets import/add/set/show/list/export,
// link/unlink, history, the flags refresh, and reconcile.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/shared/fieldtext"
)

// maxImportFile mirrors the collector's register body limit.
const maxImportFile = 32 << 20

// printAsset prints an asset as key: value lines, the linked device and
// flags in words rather than JSON.
func (c *call) printAsset(raw []byte) error {
	if *c.json {
		return c.printJSON(raw)
	}
	a, err := decodeAnswer[apitypes.Asset](raw)
	if err != nil {
		return err
	}
	dev := ""
	if d := a.Device; d != nil {
		dev = fmt.Sprintf("%s (%s), linked by %s, last seen %s", d.Hostname, d.ID, d.LinkedBy, at(d.LastSeen))
	}
	c.printFields([]field{{"id", a.ID}, {"asset_tag", a.AssetTag}, {"serial", a.Serial}, {"serial_normalised", a.SerialNormalised},
		{"type", a.Type}, {"model", a.Model}, {"owner", a.Owner}, {"owner_email", a.OwnerEmail}, {"classification", a.Classification},
		{"location", a.Location}, {"status", a.Status}, {"purchase_date", a.PurchaseDate}, {"fixed_asset_ref", a.FixedAssetRef},
		{"notes", a.Notes}, {"tags", strings.Join(a.Tags, ",")}, {"device", dev}, {"flags", flagsText(a.Flags)},
		{"created_at", at(a.CreatedAt)}, {"updated_at", at(a.UpdatedAt)}})
	return nil
}

// flagsText renders flags as "missing since T (detail)".
func flagsText(fl []apitypes.Flag) string {
	var parts []string
	for _, f := range fl {
		s := f.Flag + " since " + at(f.Since)
		if f.Severity != "" && f.Severity != "warning" {
			s += " [" + f.Severity + "]"
		}
		if f.Detail != "" {
			s += " (" + f.Detail + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// fieldFlags registers one flag per field of the register's table but
// the asset tag (the command's argument); set reports the fields given on
// the command line.
func fieldFlags(fs *flag.FlagSet) map[string]*string {
	vals := map[string]*string{}
	for _, f := range assetcsv.Fields() {
		if f.Name == assetcsv.ColAssetTag {
			continue
		}
		usage := "the asset's " + f.Name
		if f.List {
			usage = f.Name + " separated by ';'"
		}
		vals[f.Name] = fs.String(strings.ReplaceAll(f.Name, "_", "-"), "", usage)
	}
	return vals
}

// fieldBody is the JSON body of the fields given on the command line.
func (c *call) fieldBody(vals map[string]*string) map[string]any {
	body := map[string]any{}
	c.fs.Visit(func(fl *flag.Flag) {
		name := strings.ReplaceAll(fl.Name, "-", "_")
		v, ok := vals[name]
		if !ok {
			return
		}
		if f, _ := assetcsv.Lookup(name); f.List {
			tags := []string{}
			for _, t := range strings.Split(*v, ";") {
				if t = strings.TrimSpace(t); t != "" {
					tags = append(tags, t)
				}
			}
			body[name] = tags
			return
		}
		body[name] = *v
	})
	return body
}

func assetsAdd(c *call) func(context.Context) error {
	vals := fieldFlags(c.fs)
	return func(ctx context.Context) error {
		body := c.fieldBody(vals)
		if _, ok := body["status"]; !ok {
			return usageErrorf("--status is required (ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed)")
		}
		body["asset_tag"] = c.args[0]
		raw, err := c.assetWrite(ctx, http.MethodPost, "/api/v1/assets", body)
		if err != nil {
			return err
		}
		return c.printAsset(raw)
	}
}

func assetsSet(c *call) func(context.Context) error {
	vals := fieldFlags(c.fs)
	return func(ctx context.Context) error {
		body := c.fieldBody(vals)
		if len(body) == 0 {
			return usageErrorf("assets set %s: give at least one field, e.g. --owner NAME or --status in_service", c.args[0])
		}
		raw, err := c.assetWrite(ctx, http.MethodPatch, "/api/v1/assets/"+url.PathEscape(c.args[0]), body)
		if err != nil {
			return err
		}
		return c.printAsset(raw)
	}
}

func assetsShow(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/assets/"+url.PathEscape(c.args[0]), nil, nil)
		if err != nil {
			return err
		}
		return c.printAsset(raw)
	}
}

func assetsLink(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodPost, "/api/v1/assets/"+url.PathEscape(c.args[0])+"/link", nil, apitypes.LinkRequest{Device: c.args[1]})
		if err != nil {
			return err
		}
		return c.printAsset(raw)
	}
}

func assetsUnlink(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		raw, err := c.client.do(ctx, http.MethodDelete, "/api/v1/assets/"+url.PathEscape(c.args[0])+"/link", nil, nil)
		if err != nil {
			return err
		}
		return c.printAsset(raw)
	}
}

func assetsList(c *call) func(context.Context) error {
	filters := map[string]*string{}
	for _, f := range []struct{ name, usage string }{
		{"status", "only this lifecycle `status`"},
		{"type", "only this asset `type`"},
		{"classification", "only this `classification`"},
		{"owner", "only this `owner` (name or email)"},
		{"location", "only this `location`"},
		{"flag", "only assets with this `flag` (missing), or whose device has it (not_in_service, ...)"},
		{"linked", "`yes`: only assets linked to a device; no: only unlinked ones"},
	} {
		filters[f.name] = c.fs.String(f.name, "", f.usage)
	}
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		for k, v := range filters {
			if *v != "" {
				q.Set(k, *v)
			}
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/assets", q, p, "assets",
			[]string{"TAG", "SERIAL", "TYPE", "OWNER", "CLASS", "LOCATION", "STATUS", "DEVICE", "FLAGS"},
			func(a apitypes.Asset) []string {
				dev := ""
				if a.Device != nil {
					dev = a.Device.Hostname
				}
				var flags []string
				for _, f := range a.Flags {
					flags = append(flags, f.Flag)
				}
				return []string{a.AssetTag, a.Serial, a.Type, a.Owner, a.Classification, a.Location, a.Status, dev, strings.Join(flags, ",")}
			})
	}
}

func assetsHistory(c *call) func(context.Context) error {
	var since, until, kind string
	c.fs.StringVar(&since, "since", "", "entries at or after `T`")
	c.fs.StringVar(&until, "until", "", "entries before `T`")
	c.fs.StringVar(&kind, "kind", "", "only this `kind` (asset.status_changed, device.missing, ...)")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		if kind != "" {
			q.Set("kind", kind)
		}
		if err := c.timeRange(q, since, until); err != nil {
			return err
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/assets/"+url.PathEscape(c.args[0])+"/history", q, p, "register history",
			[]string{"AT", "KIND", "SUBJECT", "OLD", "NEW", "DEVICE", "BY"},
			func(e apitypes.RegisterEntry) []string {
				return []string{at(e.At), e.Kind, e.Subject, e.Old, e.New, e.DeviceID, e.ActorName}
			})
	}
}

func assetsRefresh(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPost, "/api/v1/flags/refresh", nil, func(ch apitypes.Changes) []field {
			return []field{{"links_changed", strconv.Itoa(ch.LinksChanged)}, {"flags_set", strconv.Itoa(ch.FlagsSet)}, {"flags_cleared", strconv.Itoa(ch.FlagsCleared)}}
		})
	}
}

func assetsExport(c *call) func(context.Context) error {
	var asCSV bool
	c.fs.BoolVar(&asCSV, "csv", false, "print the register as CSV (the default)")
	return func(ctx context.Context) error {
		if asCSV && *c.json {
			return usageErrorf("assets export: --csv and --json exclude each other")
		}
		format := "csv"
		if *c.json {
			format = "json"
		}
		raw, err := c.client.do(ctx, http.MethodGet, "/api/v1/assets/export", url.Values{"format": {format}}, nil)
		if err != nil {
			return err
		}
		if format == "json" {
			return c.printJSON(raw)
		}
		_, err = c.env.Stdout.Write(raw)
		return err
	}
}

// assetWrite sends a register write; row errors (400 invalid_rows) are
// listed on stderr, one per line, before the error is returned.
func (c *call) assetWrite(ctx context.Context, method, path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return c.rawWrite(ctx, method, path, nil, "application/json", b)
}

func (c *call) rawWrite(ctx context.Context, method, path string, q url.Values, contentType string, body []byte) ([]byte, error) {
	status, data, err := c.client.send(ctx, method, path, q, contentType, body)
	if err != nil {
		return nil, err
	}
	if status/100 == 2 {
		return data, nil
	}
	var rowsBody apitypes.RowsErrorBody
	if json.Unmarshal(data, &rowsBody) == nil {
		for _, r := range rowsBody.Error.Rows {
			where := ""
			if r.Line > 0 {
				where = fmt.Sprintf("line %d: ", r.Line)
			}
			fmt.Fprintf(c.env.Stderr, "%s%s\n", where, fieldtext.Escape(r.Message))
		}
	}
	return nil, apiError(status, data)
}

func assetsImport(c *call) func(context.Context) error {
	var dry bool
	var mapping string
	c.fs.BoolVar(&dry, "dry-run", false, "show what would change, change nothing")
	c.fs.StringVar(&mapping, "map", "", "map the file's header names to columns: \"Tag=asset_tag,Serial No=serial,Cost=-\"")
	return func(ctx context.Context) error {
		f, err := os.Open(c.args[0])
		if err != nil {
			return fmt.Errorf("read register: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
		f.Close()
		if err != nil {
			return fmt.Errorf("read register: %w", err)
		}
		if len(data) > maxImportFile {
			return fmt.Errorf("register %s is over the collector's %d-byte limit: split it", c.args[0], maxImportFile)
		}
		q := url.Values{}
		if dry {
			q.Set("dry_run", "true")
		}
		if mapping != "" {
			q.Set("map", mapping)
		}
		raw, err := c.rawWrite(ctx, http.MethodPost, "/api/v1/assets/import", q, "text/csv", data)
		if err != nil {
			return err
		}
		if *c.json {
			return c.printJSON(raw)
		}
		res, err := decodeAnswer[apitypes.ImportResult](raw)
		if err != nil {
			return err
		}
		out := c.env.Stdout
		for _, a := range res.Created {
			fmt.Fprintf(out, "create  %s (line %d)\n", fieldtext.Escape(a.AssetTag), a.Line)
		}
		for _, a := range res.Updated {
			fmt.Fprintf(out, "update  %s (line %d)\n", fieldtext.Escape(a.AssetTag), a.Line)
			for _, ch := range a.Changes {
				fmt.Fprintf(out, "          %s: %q -> %q\n", ch.Field, fieldtext.Escape(ch.Old), fieldtext.Escape(ch.New))
			}
		}
		for _, e := range res.Errors {
			fmt.Fprintf(out, "error   line %d: %s\n", e.Line, fieldtext.Escape(e.Message))
		}
		verb := "imported"
		if res.DryRun {
			verb = "dry run, nothing written"
		}
		fmt.Fprintf(c.env.Stderr, "%s: %d created, %d updated, %d unchanged, %d errors", verb, len(res.Created), len(res.Updated), res.Unchanged, len(res.Errors))
		if !res.DryRun {
			fmt.Fprintf(c.env.Stderr, "; %d links changed, %d flags set, %d cleared", res.LinksChanged, res.FlagsSet, res.FlagsCleared)
		}
		fmt.Fprintln(c.env.Stderr)
		if len(res.Errors) > 0 {
			return fmt.Errorf("the register has %d row errors: an import would change nothing", len(res.Errors))
		}
		return nil
	}
}

func reconcile(c *call) func(context.Context) error {
	var asCSV bool
	var rule string
	c.fs.BoolVar(&asCSV, "csv", false, "print one CSV row per finding")
	c.fs.StringVar(&rule, "hostname-rule", "", "naming `regexp` with groups tag, owner or location (default: the collector's assets.hostname_rule)")
	return func(ctx context.Context) error {
		if asCSV && *c.json {
			return usageErrorf("reconcile: --csv and --json exclude each other")
		}
		q := url.Values{}
		if rule != "" {
			q.Set("hostname_rule", rule)
		}
		rep, done, err := fetch[apitypes.Reconciliation](ctx, c, http.MethodGet, "/api/v1/reconcile", q, nil)
		if done || err != nil {
			return err
		}
		rows := reconcileRows(rep)
		if asCSV {
			w := csv.NewWriter(c.env.Stdout)
			w.Write([]string{"finding", "asset_tag", "device_id", "hostname", "detail", "since"})
			for _, r := range rows {
				for i := range r {
					r[i] = fieldtext.Escape(r[i])
				}
				w.Write(r)
			}
			w.Flush()
			return w.Error()
		}
		s := rep.Summary
		fmt.Fprintf(c.env.Stdout, "matched %d, unregistered %d, missing %d, not in service %d, mismatches %d\n",
			s.Matched, s.Unregistered, s.Missing, s.NotInService, s.Mismatches)
		if len(rows) == 0 {
			return nil
		}
		fmt.Fprintln(c.env.Stdout)
		tableRows(c, []string{"FINDING", "TAG", "DEVICE", "HOSTNAME", "DETAIL", "SINCE"}, rows)
		return nil
	}
}

func tableRows(c *call, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i := range r {
			cells[i] = fieldtext.Escape(r[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// reconcileRows flattens the report: every finding but the plain matches
// (those are counted in the summary and listed in --json).
func reconcileRows(rep apitypes.Reconciliation) [][]string {
	var rows [][]string
	for _, d := range rep.Unregistered {
		rows = append(rows, []string{"unregistered", "", d.DeviceID, d.Hostname, "serial " + d.Serial + ", last seen " + d.LastSeen, d.Since})
	}
	for _, a := range rep.Missing {
		rows = append(rows, []string{"missing", a.AssetTag, a.DeviceID, "", a.Detail, a.Since})
	}
	for _, n := range rep.NotInService {
		d := "asset is " + n.Status
		if n.Severity == "incident" {
			d += " (incident)"
		}
		rows = append(rows, []string{"not_in_service", n.AssetTag, n.DeviceID, n.Hostname, d, ""})
	}
	for _, x := range rep.Mismatches {
		rows = append(rows, []string{"mismatch", x.AssetTag, x.DeviceID, x.Hostname,
			fmt.Sprintf("%s: register %q, hostname says %q", x.Field, x.Register, x.Reported), ""})
	}
	return rows
}
