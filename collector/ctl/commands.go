package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
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

// call is one command invocation.
type call struct {
	env    Env
	json   *bool
	fs     *flag.FlagSet
	args   []string
	client *client
}

// command registers its flags on c.fs in setup and returns the function
// that runs it once flags and settings are in place.
type command struct {
	usage string
	// nargs is how many arguments the command takes; -n is "up to n".
	nargs int
	setup func(c *call) func(ctx context.Context) error
}

// lookup is a function rather than a package-level map so nothing global
// can be changed by a caller.
func lookup(name string) (command, bool) {
	switch name {
	case "devices list":
		return command{"[filters] [--limit N] [--cursor C] [--all]", 0, devicesList}, true
	case "devices show":
		return command{"REF", 1, devicesShowDetail}, true
	case "devices software":
		return command{"REF [--limit N] [--cursor C] [--all]", 1, devicesSoftware}, true
	case "devices history":
		return command{"REF [--since T] [--until T] [--limit N] [--cursor C] [--all]", 1, devicesHistory}, true
	case "devices revoke":
		return command{"REF", 1, devicesRevoke}, true
	case "devices merge":
		return command{"NEW --into OLD", 1, devicesMerge}, true
	case "devices allow-reenroll":
		return command{"DEVICE [--within 24h]", 1, devicesAllowReenroll}, true
	case "software search":
		return command{"NAME [--version V] [--source S] [--limit N] [--cursor C] [--all]", 1, softwareSearch}, true
	case "secrets create":
		return command{"[--label L] [--expires 30d] [--max-uses N]", 0, secretsCreate}, true
	case "secrets list":
		return command{"", 0, secretsList}, true
	case "secrets revoke":
		return command{"ID", 1, secretsRevoke}, true
	case "history":
		return command{"[--since T] [--until T] [--kind K] [--limit N] [--cursor C] [--all]", 0, fleetHistory}, true
	case "assets import":
		return command{"FILE.csv [--dry-run] [--map \"Tag=asset_tag,...\"]", 1, assetsImport}, true
	case "assets add":
		return command{"TAG --status S [--serial S] [--owner O] [field flags]", 1, assetsAdd}, true
	case "assets set":
		return command{"TAG [--status S] [--owner O] [field flags]", 1, assetsSet}, true
	case "assets show":
		return command{"TAG", 1, assetsShow}, true
	case "assets list":
		return command{"[--status S] [--owner O] [--flag F] [--linked yes|no] [--limit N] [--cursor C] [--all]", 0, assetsList}, true
	case "assets export":
		return command{"[--csv|--json]", 0, assetsExport}, true
	case "assets link":
		return command{"TAG DEVICE", 2, assetsLink}, true
	case "assets unlink":
		return command{"TAG", 1, assetsUnlink}, true
	case "assets history":
		return command{"TAG [--since T] [--until T] [--kind K] [--limit N] [--cursor C] [--all]", 1, assetsHistory}, true
	case "assets refresh":
		return command{"", 0, assetsRefresh}, true
	case "reconcile":
		return command{"[--csv|--json] [--hostname-rule REGEXP]", 0, reconcile}, true
	case "exceptions request", "exceptions add":
		return command{"--device REF|--asset TAG --policy ID --reason R --control C --expires DATE|30d", 0, exceptionsRequest}, true
	case "exceptions approve":
		return command{"ID [--note N]", 1, exceptionsDecide("approve")}, true
	case "exceptions deny":
		return command{"ID [--note N]", 1, exceptionsDecide("deny")}, true
	case "exceptions list":
		return command{"[--status pending|active|denied|expired|revoked] [--active] [--device REF] [--policy ID]", 0, exceptionsList}, true
	case "exceptions show":
		return command{"ID", 1, exceptionsShow}, true
	case "exceptions revoke":
		return command{"ID", 1, exceptionsRevoke}, true
	case "events":
		return command{"[--since T] [--until T] [--kind K] [--device REF] [--limit N] [--cursor C] [--all]", 0, eventsList}, true
	case "compliance summary":
		return command{"", 0, complianceSummary}, true
	case "compliance history":
		return command{"DEVICE [--policy ID] | --policy ID [--from T] [--to T] [--csv|--json]", -1, complianceHistory}, true
	case "policies list":
		return command{"", 0, policiesList}, true
	case "policies show":
		return command{"ID", 1, policiesShow}, true
	case "offboard start":
		return command{"DEVICE|TAG|SERIAL --ticket T --reason R [--method agent|manual] [--reuse] [--deadline 14d]", 1, offboardStart}, true
	case "offboard status":
		return command{"ID|DEVICE", 1, offboardStatus}, true
	case "offboard wait":
		return command{"ID [--timeout 72h] [--interval 5s]", 1, offboardWait}, true
	case "offboard record-wipe":
		return command{"ID --method M --tool T --performed-by NAME --verified-by NAME --evidence FILE", 1, offboardRecordWipe}, true
	case "offboard cancel":
		return command{"ID", 1, offboardCancel}, true
	case "offboard certificate":
		return command{"ID [--format json|html] [-o FILE]", 1, offboardCertificate}, true
	case "whoami":
		return command{"", 0, whoami}, true
	case "tokens create":
		return command{"--principal NAME [--role R] [--kind K] [--email E] [--description D] [--expires 90d]", 0, tokensCreate}, true
	case "tokens list":
		return command{"[--principal NAME] [--all]", 0, tokensList}, true
	case "tokens revoke":
		return command{"ID", 1, tokensRevoke}, true
	case "tokens rotate":
		return command{"ID|self [--expires 90d]", 1, tokensRotate}, true
	case "principals list":
		return command{"", 0, principalsList}, true
	case "principals set-role":
		return command{"NAME ROLE", 2, principalsSetRole}, true
	case "principals disable":
		return command{"NAME", 1, principalsDisable}, true
	case "users add":
		return command{"NAME --role R [--email E] [--password-file F | --generate]", 1, usersAdd}, true
	case "users list":
		return command{"", 0, usersList}, true
	case "users show":
		return command{"NAME", 1, usersShow}, true
	case "users disable":
		return command{"NAME", 1, usersDisable}, true
	case "users reset-password":
		return command{"NAME [--password-file F | --generate]", 1, usersResetPassword}, true
	case "users set-role":
		return command{"NAME ROLE", 2, usersSetRole}, true
	case "users totp":
		return command{"enable|disable NAME", 2, usersTOTP}, true
	case "users signout":
		return command{"NAME", 1, usersSignout}, true
	case "access review":
		return command{"[--since T] [--until T] [--csv|--json] [--sign-off STATEMENT]", 0, accessReview}, true
	case "audit log":
		return command{"[--since T] [--until T] [--principal P] [--action A] [--target T] [--limit N] [--cursor C] [--all]", 0, auditLog}, true
	case "audit verify":
		return command{"[--witness FILE|none]", 0, auditVerify}, true
	case "evidence export":
		return command{"--from T [--to T] --out DIR|FILE.zip", 0, evidenceExport}, true
	case "evidence verify":
		return command{"BUNDLE --public-key KEY|FILE", 1, evidenceVerify}, true
	case "offboard verify-certificate":
		return command{"FILE --public-key KEY|--collector-key-file F", 1, offboardVerifyCertificate}, true
	}
	return command{}, false
}

// paging is the --limit/--cursor/--all trio of every list command.
type paging struct {
	limit  int
	cursor string
	all    bool
}

func (c *call) paging() *paging {
	p := &paging{}
	c.fs.IntVar(&p.limit, "limit", 0, "items per page, 1 to 1000 (default: the collector's, 100)")
	c.fs.StringVar(&p.cursor, "cursor", "", "continue from this `cursor` (next_cursor of a previous page)")
	c.fs.BoolVar(&p.all, "all", false, "fetch every page")
	return p
}

func (p *paging) query(q url.Values) error {
	if p.limit != 0 {
		if p.limit < 1 || p.limit > 1000 {
			return usageErrorf("--limit %d: must be from 1 to 1000", p.limit)
		}
		q.Set("limit", strconv.Itoa(p.limit))
	}
	if p.cursor != "" {
		q.Set("cursor", p.cursor)
	}
	return nil
}

// timeParam converts a --since style flag into the RFC 3339 the API takes.
func (c *call) timeParam(q url.Values, param, flagName, value string) error {
	if value == "" {
		return nil
	}
	t, err := parseTime(value, c.env.Now())
	if err != nil {
		return usageErrorf("--%s: %v", flagName, err)
	}
	q.Set(param, t.UTC().Format(time.RFC3339))
	return nil
}

// timeRange sets the since and until parameters from --since and --until.
func (c *call) timeRange(q url.Values, since, until string) error {
	if err := c.timeParam(q, "since", "since", since); err != nil {
		return err
	}
	return c.timeParam(q, "until", "until", until)
}

// parseTime takes RFC 3339, a date (UTC midnight) or an age ("7d": that long
// before now).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if m := regexp.MustCompile(`^(\d+)([smhdw])$`).FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err == nil {
			unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
			return now.Add(-time.Duration(n) * unit), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date (2006-01-02) or an age such as 12h or 7d", s)
}

func devicesList(c *call) func(context.Context) error {
	var platform, hostname, serial, state, after, before, software, softwareVersion string
	c.fs.StringVar(&platform, "platform", "", "only this `platform` (linux, darwin, windows)")
	c.fs.StringVar(&hostname, "hostname", "", "only this `hostname` (exact, or a * glob)")
	c.fs.StringVar(&serial, "serial", "", "only this system `serial`")
	c.fs.StringVar(&state, "state", "", "only this `state`: active, revoked, identity_conflict")
	c.fs.StringVar(&after, "seen-after", "", "last seen after `T`")
	c.fs.StringVar(&before, "seen-before", "", "last seen before `T`")
	c.fs.StringVar(&software, "software", "", "only devices with the package `name`")
	c.fs.StringVar(&softwareVersion, "software-version", "", "with --software, only this `version`")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		for k, v := range map[string]string{"platform": platform, "hostname": hostname, "serial": serial, "state": state, "software": software, "software_version": softwareVersion} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if softwareVersion != "" && software == "" {
			return usageErrorf("--software-version needs --software")
		}
		if err := c.timeParam(q, "seen_after", "seen-after", after); err != nil {
			return err
		}
		if err := c.timeParam(q, "seen_before", "seen-before", before); err != nil {
			return err
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/devices", q, p, "devices",
			[]string{"ID", "HOSTNAME", "PLATFORM", "OS", "SERIAL", "STATE", "LAST SEEN"},
			func(d apitypes.Device) []string {
				os := strings.TrimSpace(d.OSName + " " + d.OSVersion)
				st := d.State
				if len(d.Flags) > 0 {
					st += " (" + strings.Join(d.Flags, ",") + ")"
				}
				return []string{d.ID, d.Hostname, d.Platform, os, d.SystemSerial, st, at(d.LastSeen)}
			})
	}
}

// deviceFields is what `devices show` prints, in the documented order.
func deviceFields(d apitypes.Device) []field {
	return []field{{"id", d.ID}, {"hostname", d.Hostname}, {"platform", d.Platform}, {"state", d.State},
		{"flags", strings.Join(d.Flags, ",")}, {"system_serial", d.SystemSerial}, {"system_uuid", d.SystemUUID},
		{"board_serial", d.BoardSerial}, {"macs", strings.Join(d.MACs, ",")}, {"vendor", d.Vendor}, {"model", d.Model},
		{"os_name", d.OSName}, {"os_version", d.OSVersion}, {"os_build", d.OSBuild}, {"kernel", d.Kernel},
		{"last_update_at", atp(d.LastUpdateAt)}, {"pending_updates", nump(d.PendingUpdates)},
		{"pending_security_updates", nump(d.PendingSecurityUpdates)}, {"reboot_required", d.RebootRequired},
		{"system_encrypted", d.SystemEncrypted}, {"agent_version", d.AgentVersion},
		{"software_count", strconv.Itoa(d.SoftwareCount)}, {"first_seen", at(d.FirstSeen)}, {"last_seen", at(d.LastSeen)},
		{"last_report_seq", strconv.FormatUint(d.LastReportSeq, 10)}, {"enrolled_at", at(d.EnrolledAt)},
		{"cert_serial", d.CertSerial}, {"cert_not_after", atp(d.CertNotAfter)}}
}

func devicesRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodPost, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/revoke", nil, deviceFields)
	}
}

func devicesSoftware(c *call) func(context.Context) error {
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/software", q, p, "packages",
			[]string{"NAME", "VERSION", "ARCH", "SOURCE", "PUBLISHER", "INSTALLED"},
			func(p apitypes.Package) []string {
				return []string{p.Name, p.Version, p.Arch, p.Source, p.Publisher, atp(p.InstallDate)}
			})
	}
}

func historyColumns() []string {
	return []string{"AT", "HOSTNAME", "SEQ", "KIND", "SUBJECT", "OLD", "NEW"}
}

func historyRow(e apitypes.HistoryEntry) []string {
	return []string{at(e.At), e.Hostname, strconv.FormatUint(e.Seq, 10), e.Kind, e.Subject, e.Old, e.New}
}

func devicesHistory(c *call) func(context.Context) error {
	var since, until string
	c.fs.StringVar(&since, "since", "", "changes at or after `T`")
	c.fs.StringVar(&until, "until", "", "changes before `T`")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{}
		if err := c.timeRange(q, since, until); err != nil {
			return err
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/devices/"+url.PathEscape(c.args[0])+"/history", q, p, "changes", historyColumns(), historyRow)
	}
}

func fleetHistory(c *call) func(context.Context) error {
	var since, until, kind string
	c.fs.StringVar(&since, "since", "", "changes at or after `T`")
	c.fs.StringVar(&until, "until", "", "changes before `T`")
	c.fs.StringVar(&kind, "kind", "", "only this `kind` of change (software_added, os_changed, ...)")
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
		return listCommand(ctx, c, "/api/v1/history", q, p, "changes", historyColumns(), historyRow)
	}
}

func softwareSearch(c *call) func(context.Context) error {
	var version, source string
	c.fs.StringVar(&version, "version", "", "only this `version`")
	c.fs.StringVar(&source, "source", "", "only this package `source` (dpkg, rpm, msi, ...)")
	p := c.paging()
	return func(ctx context.Context) error {
		q := url.Values{"name": {c.args[0]}}
		if version != "" {
			q.Set("version", version)
		}
		if source != "" {
			q.Set("source", source)
		}
		if err := p.query(q); err != nil {
			return err
		}
		return listCommand(ctx, c, "/api/v1/software", q, p, "devices with "+c.args[0],
			[]string{"DEVICE", "HOSTNAME", "NAME", "VERSION", "ARCH", "SOURCE"},
			func(h apitypes.SoftwareHit) []string {
				return []string{h.DeviceID, h.Hostname, h.Name, h.Version, h.Arch, h.Source}
			})
	}
}

func secretFields(s apitypes.Secret) []field {
	return []field{{"id", s.ID}, {"label", s.Label}, {"created_at", at(s.CreatedAt)}, {"expires_at", atp(s.ExpiresAt)},
		{"max_uses", strconv.Itoa(s.MaxUses)}, {"uses", strconv.Itoa(s.Uses)}, {"revoked_at", atp(s.RevokedAt)}}
}

func secretsCreate(c *call) func(context.Context) error {
	var label, expires string
	var maxUses int
	c.fs.StringVar(&label, "label", "", "a `label` saying what the secret is for (e.g. site-A)")
	c.fs.StringVar(&expires, "expires", "", "lifetime such as 30d, 12h or 90m, checked by the collector (default: never expires)")
	c.fs.IntVar(&maxUses, "max-uses", 0, "how many enrolments it allows (default: no limit)")
	return func(ctx context.Context) error {
		if maxUses < 0 {
			return usageErrorf("--max-uses %d: must not be negative", maxUses)
		}
		body := apitypes.SecretRequest{Label: label, ExpiresIn: expires, MaxUses: maxUses}
		s, done, err := fetch[apitypes.SecretCreated](ctx, c, http.MethodPost, "/api/v1/secrets", nil, body)
		if done || err != nil {
			return err
		}
		c.printFields([]field{{"id", s.ID}, {"secret", s.Secret}, {"label", s.Label}, {"expires_at", atp(s.ExpiresAt)}, {"max_uses", strconv.Itoa(s.MaxUses)}})
		fmt.Fprintln(c.env.Stderr, "The secret is shown only this once: store it now.")
		return nil
	}
}

func secretsList(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return listCommand(ctx, c, "/api/v1/secrets", url.Values{}, &paging{}, "enrolment secrets",
			[]string{"ID", "LABEL", "CREATED", "EXPIRES", "USES", "REVOKED"},
			func(s apitypes.Secret) []string {
				uses := strconv.Itoa(s.Uses)
				if s.MaxUses != 0 {
					uses += "/" + strconv.Itoa(s.MaxUses)
				}
				return []string{s.ID, s.Label, at(s.CreatedAt), atp(s.ExpiresAt), uses, atp(s.RevokedAt)}
			})
	}
}

func secretsRevoke(c *call) func(context.Context) error {
	return func(ctx context.Context) error {
		return objectCommand(ctx, c, http.MethodDelete, "/api/v1/secrets/"+url.PathEscape(c.args[0]), nil, secretFields)
	}
}

// listCommand prints one page (or all) as a table, each item decoded as
// T and made a row, or as JSON: the API's page verbatim, or with --all
// {"items": [every item]}.
func listCommand[T any](ctx context.Context, c *call, path string, q url.Values, p *paging, noun string, header []string, row func(T) []string) error {
	items, next, raw, err := c.client.list(ctx, path, q, p.all)
	if err != nil {
		return err
	}
	if *c.json {
		if p.all {
			if items == nil {
				items = []json.RawMessage{}
			}
			b, err := json.Marshal(page{Items: items})
			if err != nil {
				return fmt.Errorf("encode items: %w", err)
			}
			return c.printJSON(b)
		}
		return c.printJSON(raw)
	}
	if len(items) == 0 {
		fmt.Fprintf(c.env.Stderr, "no %s found\n", noun)
		return nil
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		v, err := decodeAnswer[T](it)
		if err != nil {
			return err
		}
		rows = append(rows, row(v))
	}
	if err := c.printTable(header, rows); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(c.env.Stderr, "more %s: rerun with --all, or with --cursor %s for the next page\n", noun, fieldtext.Escape(next))
	}
	return nil
}

// fetch calls the API. With --json it prints the answer as it came and
// says done; otherwise it returns the answer decoded as T for a person's
// view.
func fetch[T any](ctx context.Context, c *call, method, path string, query url.Values, body any) (v T, done bool, err error) {
	raw, err := c.client.do(ctx, method, path, query, body)
	if err != nil {
		return v, false, err
	}
	if *c.json {
		return v, true, c.printJSON(raw)
	}
	v, err = decodeAnswer[T](raw)
	return v, false, err
}

// decodeAnswer reads a collector answer as T. Fields T does not know are
// ignored: a newer collector may add some (docs/api.md).
func decodeAnswer[T any](raw []byte) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode collector answer: %w", err)
	}
	return v, nil
}

// printTable prints rows under header, every cell escaped: what a device
// reported may hold terminal control sequences.
func (c *call) printTable(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = fieldtext.Escape(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

// field is one "key: value" line of an object's view.
type field struct{ key, value string }

// objectCommand prints one object, decoded as T, as "key: value" lines,
// or its JSON.
func objectCommand[T any](ctx context.Context, c *call, method, path string, body any, fields func(T) []field) error {
	v, done, err := fetch[T](ctx, c, method, path, nil, body)
	if done || err != nil {
		return err
	}
	c.printFields(fields(v))
	return nil
}

// printFields prints "key: value" lines, every value escaped: what a
// device reported may hold terminal control sequences.
func (c *call) printFields(fs []field) {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	for _, f := range fs {
		fmt.Fprintf(tw, "%s:\t%s\n", f.key, fieldtext.Escape(f.value))
	}
	tw.Flush()
}

func (c *call) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("collector answered with invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	// encoding/json leaves DEL, C1 and bidirectional controls raw, and a
	// device may report them: write them as \u escapes, same meaning.
	_, err := c.env.Stdout.Write(fieldtext.EscapeJSON(buf.Bytes()))
	return err
}

// at is a time as the API's JSON writes it (RFC 3339 with the
// nanoseconds it has), for a table cell; "" for none (the zero time).
func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// atp is at of an optional time, "" when there is none.
func atp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return at(*t)
}

// nump is an optional number, "" when there is none.
func nump(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// compact is a value as one line of JSON, for a cell that holds an
// object (a policy's scope or parameters).
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
