package evidence

// The bundle's sections, each read from the registry a page at a time and
// written straight into the zip.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/evidence/bundle"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// builder holds one export's state: the zip, and the few counts and
// results index.html shows.
type builder struct {
	opt Options
	bw  *bundle.Writer
	reg *registry.Registry
	// assets maps a device id to its linked asset, for the inventory.
	assets map[string]registry.DeviceAsset
	counts map[string]int
	// rates are the daily compliance rates and titles the policies' in
	// force, for the charts.
	rates        []registry.DayRate
	titles       map[string]string
	chain, slice audit.Result
}

func (b *builder) count(name string, n int) {
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	b.counts[name] += n
}

// pages calls fn for every item of a paged registry list.
func pages[T any](ctx context.Context, list func(registry.Page) ([]T, string, error), fn func(T) error) error {
	p := registry.Page{Limit: registry.MaxLimit}
	for {
		items, next, err := list(p)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if next == "" {
			return ctx.Err()
		}
		p.Cursor = next
	}
}

// jsonArray streams a JSON array, one compact element per line.
type jsonArray struct {
	w io.Writer
	n int
}

func newJSONArray(w io.Writer) (*jsonArray, error) {
	_, err := io.WriteString(w, "[")
	return &jsonArray{w: w}, err
}

func (a *jsonArray) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\n"
	if a.n == 0 {
		sep = "\n"
	}
	a.n++
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	_, err = a.w.Write(b)
	return err
}

func (a *jsonArray) close() error {
	_, err := io.WriteString(a.w, "\n]\n")
	return err
}

// writeJSON writes one indented JSON file.
func (b *builder) writeJSON(name string, v any) error {
	w, err := b.bw.Create(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// csvFile is a CSV file of the bundle; every cell is guarded against
// spreadsheet formulas as the register's export is.
type csvFile struct {
	cw   *csv.Writer
	name string
	rec  []string
	rows int
}

func (b *builder) createCSV(name string, header ...string) (*csvFile, error) {
	w, err := b.bw.Create(name)
	if err != nil {
		return nil, err
	}
	f := &csvFile{cw: csv.NewWriter(w), name: name}
	if err := f.cw.Write(header); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return f, nil
}

func (f *csvFile) row(cells ...string) error {
	f.rec = f.rec[:0]
	for _, c := range cells {
		f.rec = append(f.rec, assetcsv.Guard(c))
	}
	f.rows++
	if err := f.cw.Write(f.rec); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	return nil
}

func (f *csvFile) close() error {
	f.cw.Flush()
	if err := f.cw.Error(); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	return nil
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

func (b *builder) period() (*time.Time, *time.Time) {
	from, to := b.opt.From, b.opt.To
	return &from, &to
}

// register writes the register as CSV (the fixed-asset register's own
// format, ready to import) and JSON (with links and flags), and the
// reconciliation at export time; it keeps each device's asset for the
// inventory.
func (b *builder) register(ctx context.Context) error {
	rows, err := b.reg.ExportAssets(ctx)
	if err != nil {
		return err
	}
	w, err := b.bw.Create("register/assets.csv")
	if err != nil {
		return err
	}
	if err := assetcsv.Write(w, rows); err != nil {
		return err
	}
	b.count("assets", len(rows))
	w, err = b.bw.Create("register/assets.json")
	if err != nil {
		return err
	}
	arr, err := newJSONArray(w)
	if err != nil {
		return err
	}
	b.assets = map[string]registry.DeviceAsset{}
	err = pages(ctx, func(p registry.Page) ([]registry.Asset, string, error) {
		return b.reg.ListAssets(ctx, registry.AssetFilter{}, p)
	}, func(a registry.Asset) error {
		if a.Device != nil {
			b.assets[a.Device.ID] = registry.DeviceAsset{
				ID: a.ID, AssetTag: a.AssetTag, Type: a.Type, Model: a.Model, Owner: a.Owner, OwnerEmail: a.OwnerEmail,
				Classification: a.Classification, Location: a.Location, Status: a.Status,
				LinkedBy: a.Device.LinkedBy, LinkedAt: a.Device.LinkedAt, Flags: a.Flags,
			}
		}
		return arr.add(a)
	})
	if err != nil {
		return err
	}
	if err := arr.close(); err != nil {
		return err
	}
	rec, err := b.reg.Reconcile(ctx, b.opt.HostnameRule, b.opt.Now)
	if err != nil {
		return err
	}
	return b.writeJSON("register/reconciliation.json", rec)
}

// inDevices lists the devices of the inventory at the period's end: those
// first seen before it.
func (b *builder) inDevices(ctx context.Context, fn func(registry.Device) error) error {
	return pages(ctx, func(p registry.Page) ([]registry.Device, string, error) {
		return b.reg.ListDevices(ctx, registry.DeviceFilter{}, p)
	}, func(d registry.Device) error {
		if !d.FirstSeen.Before(b.opt.To) {
			return nil
		}
		if a, ok := b.assets[d.ID]; ok {
			d.Asset = &a
		}
		return fn(d)
	})
}

var deviceColumns = []string{"device_id", "hostname", "platform", "system_serial", "system_uuid", "vendor", "model",
	"os_name", "os_version", "os_build", "kernel", "system_encrypted", "state", "first_seen", "last_seen", "agent_version",
	"asset_tag", "asset_status", "owner", "owner_email", "classification", "location", "linked_by"}

// inventory writes the devices, CSV then JSON (two passes over the
// registry, so neither is held in memory).
func (b *builder) inventory(ctx context.Context) error {
	f, err := b.createCSV("inventory/devices.csv", deviceColumns...)
	if err != nil {
		return err
	}
	err = b.inDevices(ctx, func(d registry.Device) error {
		var a registry.DeviceAsset
		if d.Asset != nil {
			a = *d.Asset
		}
		return f.row(d.ID, d.Hostname, d.Platform, d.SystemSerial, d.SystemUUID, d.Vendor, d.Model,
			d.OSName, d.OSVersion, d.OSBuild, d.Kernel, d.SystemEncrypted, d.State, ts(d.FirstSeen), ts(d.LastSeen), d.AgentVersion,
			a.AssetTag, a.Status, a.Owner, a.OwnerEmail, a.Classification, a.Location, a.LinkedBy)
	})
	if err != nil {
		return err
	}
	if err := f.close(); err != nil {
		return err
	}
	b.count("devices", f.rows)
	w, err := b.bw.Create("inventory/devices.json")
	if err != nil {
		return err
	}
	arr, err := newJSONArray(w)
	if err != nil {
		return err
	}
	if err := b.inDevices(ctx, func(d registry.Device) error { return arr.add(d) }); err != nil {
		return err
	}
	return arr.close()
}

// changes writes the device history, the drift and compliance events and
// the register history of the period.
func (b *builder) changes(ctx context.Context) error {
	from, to := b.period()
	f, err := b.createCSV("inventory/device-changes.csv", "id", "at", "device_id", "hostname", "report_seq", "kind", "subject", "old", "new")
	if err != nil {
		return err
	}
	err = pages(ctx, func(p registry.Page) ([]registry.HistoryEntry, string, error) {
		return b.reg.History(ctx, registry.HistoryFilter{Since: from, Until: to}, p)
	}, func(e registry.HistoryEntry) error {
		return f.row(strconv.FormatInt(e.ID, 10), ts(e.At), e.DeviceID, e.Hostname, strconv.FormatUint(e.Seq, 10), e.Kind, e.Subject, e.Old, e.New)
	})
	if err != nil {
		return err
	}
	if err := f.close(); err != nil {
		return err
	}
	b.count("device changes", f.rows)

	if f, err = b.createCSV("inventory/events.csv", "n", "id", "at", "kind", "device_id", "asset_tag", "subject", "data"); err != nil {
		return err
	}
	err = pages(ctx, func(p registry.Page) ([]registry.EventRecord, string, error) {
		return b.reg.Events(ctx, registry.EventFilter{Since: from, Until: to}, p)
	}, func(e registry.EventRecord) error {
		return f.row(strconv.FormatInt(e.N, 10), e.ID, ts(e.At), e.Kind, e.DeviceID, e.AssetTag, e.Subject, string(e.Data))
	})
	if err != nil {
		return err
	}
	if err := f.close(); err != nil {
		return err
	}
	b.count("events", f.rows)

	if f, err = b.createCSV("register/changes.csv", "id", "at", "kind", "asset_id", "asset_tag", "device_id", "subject", "old", "new", "actor_id", "actor_name"); err != nil {
		return err
	}
	err = pages(ctx, func(p registry.Page) ([]registry.RegisterEntry, string, error) {
		return b.reg.RegisterHistory(ctx, registry.RegisterFilter{Since: from, Until: to}, p)
	}, func(e registry.RegisterEntry) error {
		return f.row(strconv.FormatInt(e.ID, 10), ts(e.At), e.Kind, e.AssetID, e.AssetTag, e.DeviceID, e.Subject, e.Old, e.New, e.ActorID, e.ActorName)
	})
	if err != nil {
		return err
	}
	b.count("register changes", f.rows)
	return f.close()
}

// activeDuring reports whether an exception exempted anything in [from,
// to): it was approved before to, expires after from, and was not revoked
// before from. Pending and denied ones never exempted anything.
func activeDuring(e registry.ExceptionRecord, from, to time.Time) bool {
	if e.Approver == "" {
		return false
	}
	// Exceptions from before separation of duties were approved as they
	// were made, and carry no decision time.
	approved := e.CreatedAt
	if e.DecidedAt != nil {
		approved = *e.DecidedAt
	}
	return approved.Before(to) && e.ExpiresAt.After(from) && (e.RevokedAt == nil || e.RevokedAt.After(from))
}

// exceptions writes the exceptions in force at any time in the period.
func (b *builder) exceptions(ctx context.Context) error {
	all, err := b.reg.ListExceptions(ctx, registry.ExceptionFilter{}, b.opt.Now)
	if err != nil {
		return err
	}
	f, err := b.createCSV("exceptions/exceptions.csv", "id", "policy_id", "device_id", "asset_tag", "reason", "compensating_control",
		"requested_by", "requested_at", "approver", "approved_at", "decision_note", "expires_at", "revoked_at", "revoked_by", "status_at_export")
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, c registry.ExceptionRecord) int { return a.CreatedAt.Compare(c.CreatedAt) })
	for _, e := range all {
		if !activeDuring(e, b.opt.From, b.opt.To) {
			continue
		}
		if err := f.row(e.ID, e.PolicyID, e.DeviceID, e.AssetTag, e.Reason, e.CompensatingControl, e.RequestedBy, ts(e.CreatedAt),
			e.Approver, tsp(e.DecidedAt), e.DecisionNote, ts(e.ExpiresAt), tsp(e.RevokedAt), e.RevokedBy, e.Status); err != nil {
			return err
		}
	}
	b.count("exceptions", f.rows)
	return f.close()
}

// sanitisation writes the wipes completed in the period, with their
// transitions, and each one's certificate of sanitisation signed as
// GET /api/v1/wipes/{id}/certificate signs it.
func (b *builder) sanitisation(ctx context.Context) error {
	var ids []string
	err := pages(ctx, func(p registry.Page) ([]registry.Wipe, string, error) {
		return b.reg.ListWipes(ctx, registry.WipeFilter{}, p)
	}, func(w registry.Wipe) error {
		if w.CompletedAt != nil && !w.CompletedAt.Before(b.opt.From) && w.CompletedAt.Before(b.opt.To) {
			ids = append(ids, w.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(ids)
	w, err := b.bw.Create("sanitisation/wipes.json")
	if err != nil {
		return err
	}
	arr, err := newJSONArray(w)
	if err != nil {
		return err
	}
	for _, id := range ids {
		wp, err := b.reg.Wipe(ctx, id)
		if err != nil {
			return err
		}
		if err := arr.add(wp); err != nil {
			return err
		}
	}
	if err := arr.close(); err != nil {
		return err
	}
	for _, id := range ids {
		cert, err := b.reg.WipeCertificate(ctx, id, b.opt.Now)
		if err != nil {
			return err
		}
		body, err := json.Marshal(cert)
		if err != nil {
			return fmt.Errorf("encode certificate %s: %w", id, err)
		}
		sc := wire.SignedCertificate{Certificate: body, Signature: b.opt.Key.Sign(body), KeyID: b.opt.Key.KeyID()}
		if err := b.writeJSON("sanitisation/certificates/"+id+".json", sc); err != nil {
			return err
		}
	}
	b.count("certificates", len(ids))
	return nil
}

// accessReview is the access review of the period as GET
// /api/v1/access/review answers it: every principal with its tokens, role,
// creator, last use and expiry, and the principal and token changes of
// the period from the audit log.
type accessReview struct {
	GeneratedAt time.Time                  `json:"generated_at"`
	Since       time.Time                  `json:"since"`
	Until       time.Time                  `json:"until"`
	Principals  []registry.PrincipalRecord `json:"principals"`
	Changes     []audit.Entry              `json:"changes"`
}

func (b *builder) accessReview(ctx context.Context) error {
	ps, err := b.reg.ListPrincipals(ctx, b.opt.Now)
	if err != nil {
		return err
	}
	rev := accessReview{GeneratedAt: b.opt.Now.UTC(), Since: b.opt.From, Until: b.opt.To, Principals: ps, Changes: []audit.Entry{}}
	for _, prefix := range []string{"principal.*", "token.*"} {
		f := registry.AuditFilter{Since: b.opt.From, Until: b.opt.To, Action: prefix}
		for {
			es, next, err := b.reg.ListAudit(ctx, f)
			if err != nil {
				return err
			}
			rev.Changes = append(rev.Changes, es...)
			if next == 0 {
				break
			}
			f.AfterSeq = next
		}
	}
	slices.SortFunc(rev.Changes, func(a, c audit.Entry) int { return int(a.Seq - c.Seq) })
	if err := b.writeJSON("access/review.json", rev); err != nil {
		return err
	}
	f, err := b.createCSV("access/principals.csv", "principal", "kind", "email", "role", "created_at", "created_by", "disabled_at",
		"last_used_at", "token_id", "token_status", "token_created_at", "token_created_by", "token_expires_at", "token_last_used_at", "token_revoked_at")
	if err != nil {
		return err
	}
	for _, p := range ps {
		base := []string{p.Name, p.Kind, p.Email, string(p.Role), ts(p.CreatedAt), p.CreatedBy, tsp(p.DisabledAt), tsp(p.LastUsedAt)}
		if len(p.Tokens) == 0 {
			if err := f.row(append(base, "", "", "", "", "", "", "")...); err != nil {
				return err
			}
		}
		for _, t := range p.Tokens {
			if err := f.row(append(slices.Clone(base), t.ID, t.Status, ts(t.CreatedAt), t.CreatedBy, ts(t.ExpiresAt), tsp(t.LastUsedAt), tsp(t.RevokedAt))...); err != nil {
				return err
			}
		}
	}
	b.count("principals", len(ps))
	b.count("access changes", len(rev.Changes))
	return f.close()
}

// auditVerification is audit/verification.json.
type auditVerification struct {
	VerifiedAt time.Time `json:"verified_at"`
	KeyID      string    `json:"key_id"`
	PublicKey  string    `json:"public_key"`
	// Chain is the whole log's verification at export time; Slice is
	// audit/log.jsonl's own (its links, hashes and the checkpoints that
	// fall inside it).
	Chain audit.Result `json:"chain"`
	Slice audit.Result `json:"slice"`
}

// firstAuditAt is the sequence of the first entry written at or after t;
// ok is false when there is none yet. The period's slice runs from
// firstAuditAt(from) up to firstAuditAt(to): one unbroken run of the
// chain, even where collectors sharing a store wrote entries whose times
// are not quite in sequence order, and the slices of adjacent periods
// meet exactly.
func (b *builder) firstAuditAt(ctx context.Context, t time.Time) (seq int64, ok bool, err error) {
	es, _, err := b.reg.ListAudit(ctx, registry.AuditFilter{Since: t, Limit: 1})
	if err != nil || len(es) == 0 {
		return 0, false, err
	}
	return es[0].Seq, true, nil
}

// auditLog writes the period's slice of the audit log as JSON lines, the
// checkpoints that vouch for it, and the verification of the whole chain
// and of the slice.
func (b *builder) auditLog(ctx context.Context) error {
	pub := b.opt.Key.Public
	cps, err := b.reg.AuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	sv := audit.NewVerifier(pub, cps, audit.Options{Slice: true})
	w, err := b.bw.Create("audit/log.jsonl")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	first, more, err := b.firstAuditAt(ctx, b.opt.From)
	if err != nil {
		return err
	}
	end, bounded, err := b.firstAuditAt(ctx, b.opt.To)
	if err != nil {
		return err
	}
	// Without an entry at or after to yet, the slice ends at the first
	// one written from now on at or after to.
	past := func(e audit.Entry) bool { return bounded && e.Seq >= end || !bounded && !e.At.Before(b.opt.To) }
	f := registry.AuditFilter{AfterSeq: first - 1}
	n := 0
	for more {
		es, next, err := b.reg.ListAudit(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range es {
			if past(e) {
				more = false
				break
			}
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write audit/log.jsonl: %w", err)
			}
			sv.Add(e)
			n++
		}
		if next == 0 {
			break
		}
		f.AfterSeq = next
	}
	b.count("audit entries", n)
	b.slice = sv.Finish()
	// The checkpoints inside the slice, and the first after it, which
	// vouches for the slice's head being part of the chain signed later.
	keep := []audit.Checkpoint{}
	for _, c := range cps {
		if c.Seq < b.slice.FirstSeq {
			continue
		}
		keep = append(keep, c)
		if c.Seq > b.slice.HeadSeq {
			break
		}
	}
	if err := b.writeJSON("audit/checkpoints.json", keep); err != nil {
		return err
	}
	b.chain, err = b.reg.VerifyAudit(ctx, pub, nil, audit.Options{Now: b.opt.Now, MaxUncovered: b.opt.MaxUncovered})
	if err != nil {
		return err
	}
	return b.writeJSON("audit/verification.json", auditVerification{
		VerifiedAt: b.opt.Now.UTC(), KeyID: b.opt.Key.KeyID(), PublicKey: b.opt.Key.PublicBase64(), Chain: b.chain, Slice: b.slice,
	})
}
