package registry

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// Policy set sources (policy_sets.source).
const (
	PolicySourceDefault = "default"
	PolicySourceFile    = "file"
	PolicySourceAPI     = "api"
)

// DefaultMaxExceptionValidity caps an exception's lifetime when the
// configuration does not: a year, the usual audit cycle.
const DefaultMaxExceptionValidity = 365 * 24 * time.Hour

// complianceHolder is the Registry's compliance state: the configuration
// in force, swapped whole so a report never sees half of a change. (One
// fleet-wide evaluation at a time is a lease, lease.go, so it holds across
// instances.)
type complianceHolder struct {
	state atomic.Pointer[complianceState]
	init  sync.Mutex
	// changedSet is the id of a policy set a policy change put in force
	// (ReplacePolicies, or a changed policy file at start) until a fleet
	// evaluation with it completes: that evaluation announces itself in
	// one compliance.fleet_changed event instead of one
	// compliance.changed per device.
	changedSet atomic.Int64
	// cache keeps the fleet evaluation's decoded facts and results
	// (evalcache.go).
	cache evalCache
}

// complianceState is immutable once published.
type complianceState struct {
	set         *compliance.Set
	setID       int64
	maxValidity time.Duration
	endpoints   []webhook.Endpoint
	onEvents    func()
}

// ComplianceOptions configure policies, exceptions and webhooks.
type ComplianceOptions struct {
	// Set is the policy set loaded at start (the --policies file or
	// compliance.Default()); Document is its text, Source one of the
	// PolicySource constants and Name the file name.
	Set      *compliance.Set
	Document []byte
	Source   string
	Name     string
	// MaxExceptionValidity caps exceptions; 0 means the default.
	MaxExceptionValidity time.Duration
	// Endpoints receive events; deliveries are queued only for these.
	Endpoints []webhook.Endpoint
	// OnEvents is called after a transaction that queued deliveries has
	// committed (the webhook Worker's Kick).
	OnEvents func()
}

// ConfigureCompliance puts opts in force and returns the policy set that
// applies. The set loaded at start is stored as a new policy_sets version
// unless it is the one stored last; a set replaced through the API is kept
// across restarts for as long as the start-up set (file or default) is the
// same as at the start that preceded the API change, so the newest intent
// wins: an operator's API change survives a restart, and an edited policy
// file replaces it.
func (r *Registry) ConfigureCompliance(ctx context.Context, opts ComplianceOptions, now time.Time) (*compliance.Set, error) {
	if opts.Set == nil {
		return nil, fmt.Errorf("configure compliance: %w", ErrInvalid.Errorf("no policy set"))
	}
	for _, ep := range opts.Endpoints {
		if err := ep.Validate(); err != nil {
			return nil, fmt.Errorf("configure compliance: webhook %s: %w", ep.ID, err)
		}
	}
	if opts.MaxExceptionValidity <= 0 {
		opts.MaxExceptionValidity = DefaultMaxExceptionValidity
	}
	st := &complianceState{set: opts.Set, maxValidity: opts.MaxExceptionValidity,
		endpoints: slices.Clone(opts.Endpoints), onEvents: opts.OnEvents}
	hash := docHash(opts.Document)
	err := r.Write(ctx, func(tx *Tx) error {
		st.set, st.setID = opts.Set, 0 // as before a retried run
		latest, err := latestPolicySet(ctx, tx, "")
		if err != nil {
			return err
		}
		boot, err := latestPolicySet(ctx, tx, "boot")
		if err != nil {
			return err
		}
		switch {
		case latest != nil && latest.Source == PolicySourceAPI && boot != nil && boot.Hash == hash:
			set, err := compliance.ParseWithLimits([]byte(latest.Document), "stored policy set "+fmt.Sprint(latest.ID), opts.Set.Limits())
			if err != nil {
				// Only validated sets are stored; a newer engine that
				// refuses one falls back to the start-up set, loudly.
				r.logger.Error("stored policy set no longer loads; using the start-up set", "id", latest.ID, "err", err)
				break
			}
			st.set, st.setID = set, latest.ID
			r.logger.Info("using the policy set stored through the API", "id", latest.ID, "by", latest.CreatedBy, "at", latest.CreatedAt)
			return nil
		case latest != nil && latest.Hash == hash && latest.Source == opts.Source:
			st.setID = latest.ID
			return nil
		}
		id, err := insertPolicySet(ctx, tx, opts.Source, opts.Name, string(opts.Document), hash, "", now)
		if err != nil {
			return err
		}
		st.setID = id
		r.comp.changedSet.Store(id)
		// A policy file that changed between starts is a configuration
		// change like any other.
		return r.audit(ctx, tx, "policies.loaded", "policies", map[string]any{"set_id": id, "source": opts.Source, "name": opts.Name, "sha256": hash})
	})
	if err != nil {
		return nil, fmt.Errorf("configure compliance: %w", err)
	}
	r.comp.state.Store(st)
	return st.set, nil
}

func docHash(doc []byte) string {
	sum := sha256.Sum256(doc)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// PolicySetRecord is one stored policy set version.
type PolicySetRecord struct {
	ID        int64     `json:"id"`
	Source    string    `json:"source"`
	Name      string    `json:"name"`
	Hash      string    `json:"hash"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Document  string    `json:"-"`
}

// latestPolicySet returns the newest stored set, or with which "boot" the
// newest one loaded at start (default or file); nil when there is none.
func latestPolicySet(ctx context.Context, q querier, which string) (*PolicySetRecord, error) {
	where := ""
	if which == "boot" {
		where = ` WHERE source IN ('default', 'file')`
	}
	var p PolicySetRecord
	var at string
	err := q.QueryRowContext(ctx, `SELECT id, source, name, document, hash, created_by, created_at FROM policy_sets`+where+` ORDER BY id DESC LIMIT 1`).
		Scan(&p.ID, &p.Source, &p.Name, &p.Document, &p.Hash, &p.CreatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policy set: %w", err)
	}
	p.CreatedAt = parseTime(at)
	return &p, nil
}

func insertPolicySet(ctx context.Context, tx *Tx, source, name, doc, hash, by string, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO policy_sets (source, name, document, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		source, name, doc, hash, by, fmtTime(now)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store policy set: %w", err)
	}
	return id, nil
}

// compState returns the configuration in force; a registry nobody
// configured (tools, tests of other parts) evaluates the default baseline
// with no webhooks.
func (r *Registry) compState() *complianceState {
	if st := r.comp.state.Load(); st != nil {
		return st
	}
	r.comp.init.Lock()
	defer r.comp.init.Unlock()
	if st := r.comp.state.Load(); st != nil {
		return st
	}
	st := &complianceState{set: compliance.Default(), maxValidity: DefaultMaxExceptionValidity}
	r.comp.state.Store(st)
	return st
}

// PolicySet is the set in force and its stored record (ID 0 when the
// registry was never configured).
func (r *Registry) PolicySet(ctx context.Context) (*compliance.Set, PolicySetRecord, error) {
	st := r.compState()
	rec := PolicySetRecord{Source: PolicySourceDefault}
	if st.setID != 0 {
		var at string
		err := r.db.QueryRowContext(ctx, `SELECT id, source, name, hash, created_by, created_at FROM policy_sets WHERE id = $1`, st.setID).
			Scan(&rec.ID, &rec.Source, &rec.Name, &rec.Hash, &rec.CreatedBy, &at)
		if err != nil {
			return nil, PolicySetRecord{}, fmt.Errorf("read policy set: %w", err)
		}
		rec.CreatedAt = parseTime(at)
	}
	return st.set, rec, nil
}

// PolicySetHistory lists every stored policy set version, newest first.
func (r *Registry) PolicySetHistory(ctx context.Context) ([]PolicySetRecord, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT id, source, name, hash, created_by, created_at FROM policy_sets ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list policy sets: %w", err)
	}
	defer rows.Close()
	out := []PolicySetRecord{}
	for rows.Next() {
		var p PolicySetRecord
		var at string
		if err := rows.Scan(&p.ID, &p.Source, &p.Name, &p.Hash, &p.CreatedBy, &at); err != nil {
			return nil, fmt.Errorf("list policy sets: %w", err)
		}
		p.CreatedAt = parseTime(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ReplacePolicies validates doc (YAML or JSON, the policy file format),
// stores it as the newest policy set (created by actor), puts it in force
// and re-evaluates every device. Errors from the document wrap ErrInvalid.
func (r *Registry) ReplacePolicies(ctx context.Context, doc []byte, actor string, now time.Time) (*compliance.Set, PolicySetRecord, EvalStats, error) {
	set, err := compliance.ParseWithLimits(doc, "policies", r.compState().set.Limits())
	if err != nil {
		fe := ErrInvalid.Errorf("%w", err)
		fe.Code = "invalid_policies"
		return nil, PolicySetRecord{}, EvalStats{}, fe
	}
	cur := r.compState()
	var rec PolicySetRecord
	err = r.Write(ctx, func(tx *Tx) error {
		hash := docHash(doc)
		id, err := insertPolicySet(ctx, tx, PolicySourceAPI, "api", string(doc), hash, actor, now)
		if err != nil {
			return err
		}
		rec = PolicySetRecord{ID: id, Source: PolicySourceAPI, Name: "api", Hash: hash, CreatedBy: actor, CreatedAt: now.UTC()}
		return r.audit(ctx, tx, "policies.replaced", "policies", map[string]any{"set_id": id, "sha256": hash, "policies": len(set.Policies())})
	})
	if err != nil {
		return nil, PolicySetRecord{}, EvalStats{}, fmt.Errorf("replace policies: %w", err)
	}
	next := *cur
	next.set, next.setID = set, rec.ID
	r.comp.changedSet.Store(rec.ID)
	r.comp.state.Store(&next)
	stats, err := r.EvaluateAll(ctx, now)
	if err != nil {
		return set, rec, stats, fmt.Errorf("replace policies: %w", err)
	}
	return set, rec, stats, nil
}

// ResultRecord is one stored policy result (API keys).
type ResultRecord struct {
	PolicyID     string     `json:"policy_id"`
	Title        string     `json:"title"`
	Severity     string     `json:"severity"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason"`
	ExceptionID  string     `json:"exception_id"`
	FailingSince *time.Time `json:"failing_since"`
}

// DeviceCompliance is a device's overall state and results (API keys).
type DeviceCompliance struct {
	State       string         `json:"state"`
	EvaluatedAt *time.Time     `json:"evaluated_at"`
	Results     []ResultRecord `json:"results"`
}

// DeviceComplianceOf returns the stored compliance of a device named by id,
// serial or hostname; State is "" when it has not been evaluated yet.
func (r *Registry) DeviceComplianceOf(ctx context.Context, ref string) (DeviceCompliance, error) {
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return DeviceCompliance{}, err
	}
	set := r.compState().set
	out := DeviceCompliance{Results: []ResultRecord{}}
	var at sql.NullString
	var doc string
	err = r.db.QueryRowContext(ctx, `SELECT state, results, evaluated_at FROM device_compliance WHERE device_id = $1`, id).Scan(&out.State, &doc, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return DeviceCompliance{}, fmt.Errorf("read compliance of %s: %w", id, err)
	}
	out.EvaluatedAt = timePtr(at)
	stored, err := compliance.DecodeResults(doc)
	if err == nil {
		err = r.reasonTexts(ctx, r.db, stored)
	}
	if err != nil {
		return DeviceCompliance{}, fmt.Errorf("read compliance of %s: %w", id, err)
	}
	for _, sr := range stored {
		rr := ResultRecord{PolicyID: sr.PolicyID, Status: sr.Status, Reason: sr.Reason, ExceptionID: sr.ExceptionID}
		if sr.FailingSince != "" {
			t := parseTime(sr.FailingSince)
			rr.FailingSince = &t
		}
		if p, ok := set.Policy(rr.PolicyID); ok {
			rr.Title, rr.Severity = p.Title, p.Severity
		}
		out.Results = append(out.Results, rr)
	}
	// Worst first, then by policy id: what the helpdesk must look at leads.
	order := compliance.Statuses()
	slices.SortFunc(out.Results, func(a, b ResultRecord) int {
		if d := slices.Index(order, a.Status) - slices.Index(order, b.Status); d != 0 {
			return d
		}
		return strings.Compare(a.PolicyID, b.PolicyID)
	})
	return out, nil
}

// PolicyCount is one policy's results across the fleet.
type PolicyCount struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Severity string         `json:"severity"`
	Counts   map[string]int `json:"counts"`
}

// ComplianceSummary is the fleet's compliance (API keys).
type ComplianceSummary struct {
	Devices  int            `json:"devices"`
	ByState  map[string]int `json:"by_state"`
	Policies []PolicyCount  `json:"policies"`
}

func zeroCounts() map[string]int {
	m := map[string]int{}
	for _, s := range compliance.Statuses() {
		m[s] = 0
	}
	return m
}

// Summary counts evaluated, unrevoked devices by overall state and, for
// every policy in force, by status.
func (r *Registry) Summary(ctx context.Context) (ComplianceSummary, error) {
	set := r.compState().set
	out := ComplianceSummary{ByState: zeroCounts(), Policies: []PolicyCount{}}
	rows, err := r.db.QueryContext(ctx, `SELECT c.state, count(*) FROM device_compliance c JOIN devices d ON d.id = c.device_id
		WHERE d.state <> $1 AND c.state <> '' GROUP BY c.state`, StateRevoked)
	if err != nil {
		return out, fmt.Errorf("summarise compliance: %w", err)
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return out, fmt.Errorf("summarise compliance: %w", err)
		}
		out.ByState[s] += n
		out.Devices += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("summarise compliance: %w", err)
	}
	byPolicy := map[string]map[string]int{}
	for _, p := range set.Policies() {
		byPolicy[p.ID] = zeroCounts()
	}
	rows, err = r.db.QueryContext(ctx, `SELECT `+resultField("j", "policy_id", 0)+`, `+resultField("j", "status", 1)+`, count(*)
		FROM device_compliance c JOIN devices d ON d.id = c.device_id, `+r.dia.jsonArray("c.results", "j")+`
		WHERE d.state <> $1 GROUP BY 1, 2`, StateRevoked)
	if err != nil {
		return out, fmt.Errorf("summarise compliance: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, s string
		var n int
		if err := rows.Scan(&id, &s, &n); err != nil {
			return out, fmt.Errorf("summarise compliance: %w", err)
		}
		if m, ok := byPolicy[id]; ok {
			m[s] += n
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("summarise compliance: %w", err)
	}
	for _, p := range set.Policies() {
		out.Policies = append(out.Policies, PolicyCount{ID: p.ID, Title: p.Title, Severity: p.Severity, Counts: byPolicy[p.ID]})
	}
	return out, nil
}

// decodeFailing reads the failing column compliance.EncodeFailing wrote.
func decodeFailing(s string) map[string]time.Time {
	if s == "" {
		return nil
	}
	out := map[string]time.Time{}
	for _, kv := range strings.Split(s, ",") {
		if id, at, ok := strings.Cut(kv, "="); ok {
			out[id] = parseTime(at)
		}
	}
	return out
}

// assetCols reads the linked asset's facts; the joins are the register's
// (asset_links, assets).
const assetCols = `a.asset_tag, a.classification, a.type, a.status, a.owner, a.tags`

const assetJoin = ` LEFT JOIN asset_links l ON l.device_id = d.id LEFT JOIN assets a ON a.id = l.asset_id`

// reportComplianceInputs reads what evaluating one device after its
// report needs besides the report: the device's number and last_seen, its
// stored facts and results, and the id of its linked asset (whose row is a
// second read, when there is one). Each is a scalar subquery rather than a
// join: SQLite runs a point lookup joined to the device's row in ~11 µs
// more than the same lookup as a subquery (a probe of this statement: 33
// µs joined against 8 µs), and this statement runs in the write
// transaction of every report.
//
// It also reads what says whether the store moved under this collector's
// memory, each of which was a statement of its own in every report: the
// newest policy set (policiesInForce), the compliance reasons' epoch
// (Tx.syncReasons) and, for registerEvents, its cursor and the newest
// register history entry (none new: nothing to turn into events).
const reportComplianceInputs = `SELECT d.num, d.last_seen, (SELECT f.facts FROM device_facts f WHERE f.device_id = d.id),
		coalesce((SELECT c.state FROM device_compliance c WHERE c.device_id = d.id), ''),
		coalesce((SELECT c.results FROM device_compliance c WHERE c.device_id = d.id), ''),
		coalesce((SELECT c.failing FROM device_compliance c WHERE c.device_id = d.id), ''),
		(SELECT l.asset_id FROM asset_links l WHERE l.device_id = d.id),
		(SELECT max(id) FROM policy_sets),
		coalesce((SELECT epoch FROM compliance_reasons_epoch WHERE id = 1), 0),
		coalesce((SELECT value FROM event_cursors WHERE name = '` + registerCursor + `'), 0),
		coalesce((SELECT max(id) FROM register_history), 0)
	FROM devices d WHERE d.id = $1`

type assetRow struct {
	tag, classification, typ, status, owner, tags sql.NullString
}

func (a *assetRow) dest() []any {
	return []any{&a.tag, &a.classification, &a.typ, &a.status, &a.owner, &a.tags}
}

func (a *assetRow) facts() *compliance.AssetFacts {
	if !a.tag.Valid {
		return nil
	}
	f := &compliance.AssetFacts{Tag: a.tag.String, Classification: a.classification.String, Type: a.typ.String,
		Status: a.status.String, Owner: a.owner.String}
	if a.tags.String != "" {
		_ = json.Unmarshal([]byte(a.tags.String), &f.Tags)
	}
	return f
}

// evalDevice is one device's stored inputs and results, as both the
// per-report and the fleet-wide evaluation work on them.
type evalDevice struct {
	id string
	// num is devices.num, which keys the compliance history.
	num      int64
	lastSeen time.Time
	// facts are read-only: from the fleet evaluation's cache, they are
	// its entry's, shared by every evaluation until the device's facts
	// change.
	facts *compliance.Facts
	asset *compliance.AssetFacts
	state string
	// stored says whether device_compliance has a row; rev and at are
	// its rev and evaluated_at, which change with every write of the
	// device's facts or results (the fleet evaluation's cache key).
	stored bool
	rev    int64
	at     string
	// row is the row's rowid on SQLite (dialect.rowid), 0 elsewhere.
	row int64
	// factsV is the stored facts' version; hasFacts says there are some
	// (readFleetKeys).
	factsV   int
	hasFacts bool
	// results and failing are the stored columns.
	results, failing string
	// prev is the stored results decoded, when prevKnown (the fleet
	// evaluation's cache had them); results is then not read.
	prev      []compliance.StoredResult
	prevKnown bool
	// written says the fleet evaluation's writer committed the device's
	// new results (the writer's alone).
	written bool
	// entry is the device's slot in the fleet evaluation's next cache
	// generation (nil beyond the cache's bound), which the worker that
	// evaluates the device fills.
	entry *evalEntry
}

// input builds the engine's input; software nil means unknown.
func (d *evalDevice) input(sw compliance.SoftwareView, excs []compliance.Exception, now time.Time) compliance.Input {
	if d.facts.Packages == nil {
		sw = nil
	}
	return compliance.Input{DeviceID: d.id, Facts: *d.facts, Asset: d.asset, LastSeen: d.lastSeen,
		Software: sw, Exceptions: excs, FailingSince: decodeFailing(d.failing), Now: now}
}

// outcome is what an evaluation changed for one device.
type outcome struct {
	dev *evalDevice
	compliance.Diff
}

// diffResults compares a device's new results with its stored ones
// (compliance.DiffResults decides). When the stored ones are known
// decoded, the outcome's Results are in buf's storage
// (compliance.DiffStoredInto), which is the caller's again once it has
// copied them.
func diffResults(buf []compliance.StoredResult, d *evalDevice, results []compliance.Result, ids compliance.ReasonIDs) (outcome, error) {
	var diff compliance.Diff
	var err error
	if d.prevKnown {
		diff, err = compliance.DiffStoredInto(buf, d.state, d.prev, results, fmtTime, ids)
	} else {
		diff, err = compliance.DiffResults(d.state, d.results, results, fmtTime, ids)
	}
	if err != nil {
		return outcome{dev: d, Diff: diff}, fmt.Errorf("device %s: %w", d.id, err)
	}
	return outcome{dev: d, Diff: diff}, nil
}

// events returns what an outcome announces: compliance.changed when the
// state or a policy's status changed, then bannedEvents.
func (o *outcome) events(set *compliance.Set, now time.Time) []webhook.Event {
	var evs []webhook.Event
	if o.State != o.dev.state || len(o.Changes) > 0 {
		changes := o.Changes
		if changes == nil {
			changes = []compliance.StatusChange{}
		}
		subject := "compliance state " + o.State
		if o.dev.state != "" && o.dev.state != o.State {
			subject = "compliance state " + o.dev.state + " → " + o.State
		}
		evs = append(evs, newEvent(webhook.KindComplianceChanged, o.dev, subject,
			map[string]any{"state": o.State, "previous_state": o.dev.state, "changes": changes}, now))
	}
	return append(evs, o.bannedEvents(set, now)...)
}

// bannedEvents returns a software.banned for every banned-software policy
// that starts failing. A policy change's evaluation announces these per
// device too: each names a finding on one device.
func (o *outcome) bannedEvents(set *compliance.Set, now time.Time) []webhook.Event {
	var evs []webhook.Event
	for _, c := range o.Changes {
		p, ok := set.Policy(c.PolicyID)
		bad := c.Status == compliance.StatusFail || c.Status == compliance.StatusInGrace
		wasBad := c.Previous == compliance.StatusFail || c.Previous == compliance.StatusInGrace
		if ok && p.Kind == compliance.KindBannedSoftware && bad && !wasBad {
			evs = append(evs, newEvent(webhook.KindSoftwareBanned, o.dev, c.Reason,
				map[string]any{"policy_id": p.ID, "pattern": p.Params.Name, "reason": c.Reason}, now))
		}
	}
	return evs
}

func newEvent(kind string, d *evalDevice, subject string, data any, now time.Time) webhook.Event {
	b, _ := json.Marshal(data)
	ev := webhook.Event{Kind: kind, At: now.UTC(), DeviceID: d.id, Subject: subject, Data: b}
	if d.asset != nil {
		ev.AssetTag = d.asset.Tag
	}
	return ev
}

// reportFacts is what compliance reads of a report's snapshot: its facts,
// their stored JSON and its packages. They depend on the snapshot alone,
// so work derives them with it, before the write lock, where the
// snapshot's encoding and the facts' took ~5 % of the write transaction
// of a small delta.
type reportFacts struct {
	facts compliance.Facts
	json  []byte
	// software is nil when the snapshot has no software section.
	software compliance.SoftwareView
}

// newReportFacts derives s's reportFacts.
func newReportFacts(s *wire.Snapshot) (*reportFacts, error) {
	rf := &reportFacts{facts: compliance.FactsFromSnapshot(s)}
	var err error
	if rf.json, err = json.Marshal(rf.facts); err != nil {
		return nil, fmt.Errorf("encode facts: %w", err)
	}
	if s.Software != nil {
		rf.software = compliance.SoftwareList(s.Software.Packages)
	}
	return rf, nil
}

// complianceAfterReport is the compliance half of applying a report, in
// the report's transaction: store the device's facts, evaluate it, store
// what changed and record the events (drift from the previous facts,
// compliance changes, register flags), each with its webhook deliveries.
func (r *Registry) complianceAfterReport(ctx context.Context, tx *Tx, device string, rf *reportFacts, hist []deviceChange, now time.Time) error {
	facts, fj := rf.facts, rf.json
	d := &evalDevice{id: device, facts: &facts}
	var prevFacts, assetID sql.NullString
	var lastSeen string
	var newestSet sql.NullInt64
	var epoch, registerAfter, registerNewest int64
	err := tx.QueryRowContext(ctx, reportComplianceInputs, device).Scan(&d.num, &lastSeen, &prevFacts, &d.state, &d.results, &d.failing, &assetID,
		&newestSet, &epoch, &registerAfter, &registerNewest)
	if err != nil {
		return fmt.Errorf("read compliance inputs: %w", err)
	}
	st := r.compState()
	if newestSet.Valid && newestSet.Int64 != st.setID {
		st = r.policiesInForce(ctx, tx)
	}
	tx.knowEpoch(epoch)
	d.lastSeen = parseTime(lastSeen)
	if assetID.Valid {
		var asset assetRow
		if err := tx.QueryRowContext(ctx, `SELECT `+assetCols+` FROM assets a WHERE a.id = $1`, assetID.String).Scan(asset.dest()...); err != nil {
			return fmt.Errorf("read compliance inputs: linked asset: %w", err)
		}
		d.asset = asset.facts()
	}
	excs, err := exceptionsFor(ctx, tx, device, d.asset, now)
	if err != nil {
		return err
	}
	if _, err := tx.syncReasons(ctx); err != nil {
		return err
	}
	o, err := diffResults(nil, d, st.set.Evaluate(d.input(rf.software, excs, now)), r.reasons.id)
	if err != nil {
		return err
	}
	if err := assignReasons(ctx, tx, []*compliance.Diff{&o.Diff}); err != nil {
		return err
	}
	// Unchanged facts are not rewritten (most reports change at least
	// collected_at).
	factsChanged := !prevFacts.Valid || prevFacts.String != string(fj)
	if factsChanged {
		if err := storeFacts(ctx, tx, device, string(fj), facts.V); err != nil {
			return err
		}
	}
	// With the same facts and the same results there is nothing to store
	// (and no fleet evaluation in flight can be working from older facts,
	// which is what the rev bump guards against). Changed facts are always
	// stored with a rev bump: rev and evaluated_at key the fleet
	// evaluation's cache of decoded facts (evalcache.go).
	if factsChanged || o.Changed || d.results == "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_compliance (device_id, rev, state, results, failing, evaluated_at) VALUES ($1, 1, $2, $3, $4, $5)
			ON CONFLICT (device_id) DO UPDATE SET rev = device_compliance.rev + 1, state = excluded.state, results = excluded.results, failing = excluded.failing,
				evaluated_at = excluded.evaluated_at`,
			device, o.State, o.Doc, o.Failing, fmtTime(now)); err != nil {
			return fmt.Errorf("store compliance: %w", err)
		}
		hist := newTransitionRows(now)
		hist.addOutcome(&o)
		if err := hist.flush(ctx, tx); err != nil {
			return err
		}
	}
	evs := o.events(st.set, now)
	if prevFacts.Valid && factsChanged {
		var old compliance.Facts
		if err := json.Unmarshal([]byte(prevFacts.String), &old); err == nil {
			evs = append(driftEvents(d, &old, &facts, now), evs...)
		}
	}
	evs = append(softwareEvents(d, hist, now), evs...)
	if _, err := r.emit(ctx, tx, st, evs); err != nil {
		return err
	}
	if registerNewest > registerAfter {
		_, err = r.registerEventsAfter(ctx, tx, st, registerAfter)
	}
	return err
}

// EvalStats says what a fleet-wide evaluation did.
type EvalStats struct {
	Devices int           `json:"devices"`
	Changed int           `json:"changed"`
	Events  int           `json:"events"`
	Took    time.Duration `json:"-"`
}

// evalBatch is how many changed devices one write transaction stores:
// large enough that commits do not dominate, small enough that reports
// queued behind it wait milliseconds, not seconds.
const evalBatch = 2000

// EvaluateAll re-evaluates every reported, unrevoked device from its
// stored facts at now: after a policy or exception change, and
// periodically for results that change with time alone (stale, expiry,
// grace). It reads everything in a handful of queries (facts, last check-in
// and asset in one; each software pattern once), evaluates in memory, and
// writes only the devices whose results changed, in batched transactions.
// One runs at a time among every instance sharing the store, with the
// newest stored policy set.
func (r *Registry) EvaluateAll(ctx context.Context, now time.Time) (EvalStats, error) {
	ctx, release, err := r.holdFleetEvaluation(ctx)
	if err != nil {
		return EvalStats{}, fmt.Errorf("evaluate fleet: %w", err)
	}
	defer release()
	// This instance's watcher may not have seen a set stored through
	// another one yet; judging by the older set would undo that one's work.
	if _, err := r.RefreshPolicies(ctx); err != nil {
		return EvalStats{}, fmt.Errorf("evaluate fleet: %w", err)
	}
	start := time.Now()
	epoch, err := r.refreshReasons(ctx)
	if err != nil {
		return EvalStats{}, fmt.Errorf("evaluate fleet: %w", err)
	}
	st := r.compState()
	sw, err := r.softwareIndex(ctx, st.set)
	if err != nil {
		return EvalStats{}, err
	}
	excs, err := r.validExceptions(ctx, r.db, now)
	if err != nil {
		return EvalStats{}, err
	}
	// Each worker evaluates into its own buffers: of results, which
	// diffResults copies from, and of the outcome's results, which the
	// worker copies (interned) before its next device (evaluateFleet).
	newEval := func() func(*evalDevice) (outcome, error) {
		var buf []compliance.Result
		var stored []compliance.StoredResult
		return func(d *evalDevice) (outcome, error) {
			var mine []compliance.Exception
			if len(excs) > 0 {
				mine = append(mine, excs[d.id]...)
				if d.asset != nil {
					mine = append(mine, excs["asset:"+d.asset.Tag]...)
				}
			}
			buf = st.set.EvaluateInto(buf, d.input(sw.view(d.id), mine, now))
			o, err := diffResults(stored, d, buf, r.reasons.id)
			stored = o.Results
			return o, err
		}
	}
	// After a policy change, one event summarises the fleet's changes.
	var fleet *FleetChange
	if st.setID != 0 && r.comp.changedSet.Load() == st.setID {
		fleet = newFleetChange(st.setID)
	}
	ts := fmtTime(now)
	var stats EvalStats
	// wrote and skipped are the writer's (evaluateFleet calls write from
	// one goroutine): the cache entries of the devices whose results were
	// written (not the devices: a device read with its texts holds them),
	// and the ids of those a report overtook. Each device is in one batch.
	var wrote []*evalEntry
	var skipped []string
	// One buffer of history rows serves every batch: it grows to a
	// batch's rows once instead of for each.
	hist := newTransitionRows(now)
	// swept says the dictionary of reasons was swept during the
	// evaluation (the writer's).
	swept := false
	write := func(batch []outcome) error {
		var n int
		// done are the outcomes written, in the attempt that committed.
		var done []*outcome
		err := r.Write(ctx, func(tx *Tx) error {
			n, done = 0, done[:0]
			// Outcomes with a reason the dictionary lacked when they were
			// evaluated have no document yet. After a sweep of the
			// dictionary (its epoch moved since the evaluation began) any
			// document may name a deleted id: from then on every one is
			// encoded again.
			e, err := tx.syncReasons(ctx)
			if err != nil {
				return err
			}
			swept = swept || e != epoch
			var diffs []*compliance.Diff
			for j := range batch {
				if swept {
					batch[j].Doc = ""
				}
				if batch[j].Doc == "" {
					diffs = append(diffs, &batch[j].Diff)
				}
			}
			if err := assignReasons(ctx, tx, diffs); err != nil {
				return err
			}
			updated, err := updateResults(ctx, tx, r.dia, batch, ts)
			if err != nil {
				return err
			}
			// A device never evaluated (facts from a backfill) has no row;
			// one a report created meanwhile is left to the report.
			ins, err := tx.PrepareContext(ctx, `INSERT INTO device_compliance (state, results, failing, evaluated_at, device_id, rev) VALUES ($1, $2, $3, $4, $5, $6 + 1)
				ON CONFLICT (device_id) DO NOTHING`)
			if err != nil {
				return fmt.Errorf("store compliance: %w", err)
			}
			defer ins.Close()
			var evs []webhook.Event
			hist.rows = hist.rows[:0] // a retried attempt starts over
			for j := range batch {
				o := &batch[j]
				if o.dev.stored {
					if !updated[o.dev.id] {
						continue // a report evaluated it meanwhile, with newer facts
					}
				} else {
					res, err := ins.ExecContext(ctx, o.State, o.Doc, o.Failing, ts, o.dev.id, o.dev.rev)
					if err != nil {
						return fmt.Errorf("store compliance: %w", err)
					}
					if k, _ := res.RowsAffected(); k == 0 {
						continue // a report evaluated it first
					}
				}
				done = append(done, o)
				hist.addOutcome(o)
				if fleet != nil {
					evs = append(evs, o.bannedEvents(st.set, now)...)
				} else {
					evs = append(evs, o.events(st.set, now)...)
				}
			}
			if err := hist.flush(ctx, tx); err != nil {
				return err
			}
			n, err = r.emit(ctx, tx, st, evs)
			return err
		})
		if err != nil {
			return err
		}
		stats.Events += n
		stats.Changed += len(batch)
		for _, o := range done {
			o.dev.written = true
			if o.dev.entry != nil {
				wrote = append(wrote, o.dev.entry)
			}
			if fleet != nil {
				fleet.add(o)
			}
		}
		for _, o := range batch {
			if !o.dev.written {
				skipped = append(skipped, o.dev.id)
			}
		}
		return nil
	}
	n, counts, entries, err := r.evaluateFleet(ctx, newEval, write)
	if err != nil {
		return stats, fmt.Errorf("evaluate fleet: %w", err)
	}
	stats.Devices = n
	for _, e := range wrote {
		e.stored, e.rev, e.at = true, e.rev+1, ts
	}
	for _, id := range skipped {
		delete(entries, id)
	}
	// Only now do the entries match what is stored: an evaluation that
	// failed above leaves the previous ones, which the rows it wrote no
	// longer match.
	r.comp.cache.replace(entries)
	var m int
	err = r.Write(ctx, func(tx *Tx) error {
		m = 0
		if fleet != nil && fleet.Changed > 0 {
			fleet.count(n, counts)
			k, err := r.emit(ctx, tx, st, []webhook.Event{fleet.event(now)})
			if err != nil {
				return err
			}
			m += k
		}
		k, err := r.registerEvents(ctx, tx, st)
		m += k
		return err
	})
	if err != nil {
		return stats, fmt.Errorf("evaluate fleet: %w", err)
	}
	stats.Events += m
	if fleet != nil {
		r.comp.changedSet.CompareAndSwap(st.setID, 0)
	}
	// The day's counts are the results this evaluation arrived at (a
	// device a report re-evaluated meanwhile counts as found here), which
	// spares reading every device's results back.
	if err := r.recordComplianceDay(ctx, now, counts.summary(st.set)); err != nil {
		return stats, fmt.Errorf("evaluate fleet: %w", err)
	}
	stats.Took = time.Since(start)
	r.logger.Debug("fleet evaluated", "devices", stats.Devices, "changed", stats.Changed, "events", stats.Events, "took", stats.Took)
	return stats, nil
}

// resultField reads one field of a results document's element alias.value
// (a jsonArray row) in either stored form (compliance.StoredResult): the
// array's value at index, or the object's at key.
func resultField(alias, key string, index int) string {
	return `coalesce(` + alias + `.value ->> '` + key + `', ` + alias + `.value ->> ` + strconv.Itoa(index) + `)`
}

// FleetChange is the data of a compliance.fleet_changed event: what the
// fleet evaluation after a policy change changed (API keys).
type FleetChange struct {
	PolicySetID int64 `json:"policy_set_id"`
	// Devices were evaluated; Changed had their results rewritten.
	Devices int `json:"devices"`
	Changed int `json:"changed"`
	// ByState counts every evaluated device by its overall state after.
	ByState map[string]int `json:"by_state"`
	// Policies are those whose status changed on a device, by policy id.
	Policies []FleetPolicyChange `json:"policies"`
}

// FleetPolicyChange counts the devices whose status for one policy
// changed, by new status; "removed" is a policy the device no longer has
// a result for (deleted from the set).
type FleetPolicyChange struct {
	PolicyID string         `json:"policy_id"`
	Changed  map[string]int `json:"changed"`
}

func newFleetChange(setID int64) *FleetChange {
	return &FleetChange{PolicySetID: setID, ByState: zeroCounts(), Policies: []FleetPolicyChange{}}
}

// count sets the devices evaluated and their states after.
func (f *FleetChange) count(devices int, counts *fleetCounts) {
	f.Devices = devices
	for s, n := range counts.byState {
		f.ByState[s] = n
	}
}

// add counts a device whose changed results were written.
func (f *FleetChange) add(o *outcome) {
	f.Changed++
	bump := func(policy, status string) {
		i, ok := slices.BinarySearchFunc(f.Policies, policy, func(p FleetPolicyChange, id string) int { return strings.Compare(p.PolicyID, id) })
		if !ok {
			f.Policies = slices.Insert(f.Policies, i, FleetPolicyChange{PolicyID: policy, Changed: map[string]int{}})
		}
		f.Policies[i].Changed[status]++
	}
	for _, c := range o.Changes {
		bump(c.PolicyID, c.Status)
	}
	for _, p := range o.Removed {
		bump(p.PolicyID, StatusRemoved)
	}
}

func (f *FleetChange) event(now time.Time) webhook.Event {
	b, _ := json.Marshal(f)
	return webhook.Event{Kind: webhook.KindComplianceFleetChanged, At: now.UTC(),
		Subject: fmt.Sprintf("policy set %d: %d of %d devices changed", f.PolicySetID, f.Changed, f.Devices), Data: b}
}

// fleetCounts tallies a fleet evaluation's results as Summary counts the
// stored ones: devices by overall state, and results by policy and status.
type fleetCounts struct {
	devices  int
	byState  map[string]int
	byPolicy map[string]map[string]int
}

func newFleetCounts() *fleetCounts {
	return &fleetCounts{byState: map[string]int{}, byPolicy: map[string]map[string]int{}}
}

func (c *fleetCounts) add(o *outcome) {
	c.devices++
	c.byState[o.State]++
	for _, res := range o.Results {
		m := c.byPolicy[res.PolicyID]
		if m == nil {
			m = map[string]int{}
			c.byPolicy[res.PolicyID] = m
		}
		m[res.Status]++
	}
}

func (c *fleetCounts) merge(o *fleetCounts) {
	c.devices += o.devices
	for s, n := range o.byState {
		c.byState[s] += n
	}
	for p, m := range o.byPolicy {
		for s, n := range m {
			if c.byPolicy[p] == nil {
				c.byPolicy[p] = map[string]int{}
			}
			c.byPolicy[p][s] += n
		}
	}
}

// summary is the ComplianceSummary of the counted results for set's
// policies.
func (c *fleetCounts) summary(set *compliance.Set) ComplianceSummary {
	out := ComplianceSummary{Devices: c.devices, ByState: zeroCounts(), Policies: []PolicyCount{}}
	for s, n := range c.byState {
		out.ByState[s] += n
	}
	for _, p := range set.Policies() {
		counts := zeroCounts()
		for s, n := range c.byPolicy[p.ID] {
			counts[s] += n
		}
		out.Policies = append(out.Policies, PolicyCount{ID: p.ID, Title: p.Title, Severity: p.Severity, Counts: counts})
	}
	return out
}

// evaluateFleet streams every reported, unrevoked device's stored inputs
// (last check-in, asset, stored state and failing times, and facts and
// stored results: one query per range of device numbers, one range per
// CPU read at once) to one worker per CPU, which decodes the facts and
// runs an eval of its own (newEval) while the next rows are read. With
// the cache of the last evaluation's decoded facts and results
// (evalcache.go), the ranges are read without the facts and results
// texts, and only the devices whose row changed since (rev,
// evaluated_at) are read again with them. Devices whose facts are missing
// or of an older FactsVersion, found by the same read, get facts derived
// from their snapshot and are read again.
//
// The outcomes that changed go to write in batches of up to evalBatch,
// each in device number order, from one goroutine, while the fleet is still
// being read and evaluated: the writes, one transaction per batch, are
// most of a policy change that moves every device, and SQLite has one
// writer, so they overlap the evaluation instead of following it. An
// error from write stops the evaluation. It returns how many devices it
// saw, the counts of every device's new results, and the cache entries
// for the next evaluation (see EvaluateAll: the written ones are keyed
// once it has them all).
func (r *Registry) evaluateFleet(ctx context.Context, newEval func() func(*evalDevice) (outcome, error), write func([]outcome) error) (int, *fleetCounts, map[string]*evalEntry, error) {
	type job struct {
		d *evalDevice
		// facts is nil when d.facts came from the cache (hit is the entry).
		facts []byte
		hit   *evalEntry
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	last := r.comp.cache.begin()
	jobs := make(chan job, 512)
	workers := max(1, runtime.GOMAXPROCS(0))
	counts := make([]*fleetCounts, workers)
	errs := make([]error, workers)
	// next is the next generation of the cache: send gives each device it
	// hands over a slot in it (evalDevice.entry), up to the cache's bound,
	// and the worker that evaluates the device fills the slot. Built where
	// devices are handed over (under nextMu: a first evaluation's readers
	// hand them over side by side), the map needs no merging at the end,
	// and a device's slot is found without a lookup.
	next := make(map[string]*evalEntry, len(last))
	var nextMu sync.Mutex
	slots := slab[evalEntry]{chunk: len(last)}
	bound := r.comp.cache.bound()
	slot := func(d *evalDevice) {
		nextMu.Lock()
		defer nextMu.Unlock()
		if len(next) < bound {
			d.entry = slots.alloc()
			next[d.id] = d.entry
		}
	}
	// Workers hand changed outcomes to one batcher, in about the order the
	// devices were read (by number: readFleetKeys), and the writer takes its
	// batches, sorted by number, while the next one fills: the writer is
	// a policy change's critical path, so what can be done before its
	// transaction is done by the batcher.
	changed := make(chan outcome, evalBatch)
	batches := make(chan []outcome, 1)
	go func() {
		defer close(batches)
		var b []outcome
		byNum := func(a, b outcome) int { return cmp.Compare(a.dev.num, b.dev.num) }
		for o := range changed {
			if b == nil {
				b = make([]outcome, 0, evalBatch)
			}
			if b = append(b, o); len(b) == evalBatch {
				slices.SortFunc(b, byNum)
				batches <- b
				b = nil
			}
		}
		if len(b) > 0 {
			slices.SortFunc(b, byNum)
			batches <- b
		}
	}()
	var writeErr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		for b := range batches {
			if writeErr != nil {
				continue // drain
			}
			if writeErr = write(b); writeErr != nil {
				cancel(writeErr)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = newFleetCounts()
		wg.Add(1)
		eval := newEval()
		var shared compliance.ResultsInterner
		go func() {
			defer wg.Done()
			for j := range jobs {
				if errs[w] != nil {
					continue // drain
				}
				if j.facts != nil {
					j.d.facts = new(compliance.Facts)
					if err := json.Unmarshal(j.facts, j.d.facts); err != nil {
						errs[w] = fmt.Errorf("decode facts of %s: %w", j.d.id, err)
						continue
					}
				}
				o, err := eval(j.d)
				if err != nil {
					errs[w] = err
					continue
				}
				counts[w].add(&o)
				// o.Results are in eval's buffer: what outlives the next
				// device gets the worker's interned copy, shared with its
				// other devices whose results are the same. The cache
				// entry gets the results the device will have stored: the
				// new ones once written (EvaluateAll keys the entry then),
				// else the stored ones, which o.Results then equals.
				if o.Changed || j.hit == nil {
					o.Results = shared.Intern(o.Doc, o.Results)
				}
				if o.Changed {
					changed <- o
				}
				e := j.d.entry
				switch {
				case e == nil: // beyond the cache's bound
				case j.hit != nil && !o.Changed:
					*e = *j.hit
				default:
					// Interned, the entry shares the strings most devices
					// have in common (compliance.Facts.Interned), and its
					// results with the worker's other devices whose results
					// are the same; facts from the cache are interned
					// already.
					facts := j.d.facts
					if j.facts != nil {
						f := facts.Interned()
						facts = &f
					}
					*e = evalEntry{stored: j.d.stored, rev: j.d.rev, at: j.d.at, factsV: j.d.factsV, facts: facts, results: o.Results}
				}
			}
		}()
	}
	// send is called by every reader at once: last is read-only. Without
	// facts (a read without the texts) it takes the device from the cache
	// or returns false.
	send := func(d *evalDevice, facts []byte, texts bool) bool {
		if !texts {
			e := last[d.id]
			if !e.matches(d) {
				return false
			}
			d.facts, d.prev, d.prevKnown = e.facts, e.results, true
			slot(d)
			jobs <- job{d: d, hit: e}
			return true
		}
		slot(d)
		jobs <- job{d: d, facts: bytes.Clone(facts)}
		return true
	}
	var n int
	var err error
	if len(last) > 0 {
		n, err = r.readFleetKeys(ctx, min(workers, maxFleetReaders), len(last), send)
	} else {
		n, err = r.readFleet(ctx, min(workers, maxFleetReaders), send)
	}
	close(jobs)
	wg.Wait()
	close(changed)
	<-written
	// A failed write is the cause of the readers' cancelled context.
	if writeErr != nil {
		err = writeErr
	} else {
		err = errors.Join(append([]error{err}, errs...)...)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	for _, c := range counts[1:] {
		counts[0].merge(c)
	}
	return n, counts[0], next, nil
}

// updateChunk is how many devices' results one UPDATE of updateResults
// writes: updateCols parameters each, far below both engines' limits.
const updateChunk = 200

// updateResults stores the new results of batch's devices that have a
// device_compliance row, under the rev each was read with (a report that
// evaluated the device meanwhile bumped it, and its newer results stay),
// bumping rev (the fleet evaluation's cache key, evalcache.go). It returns
// the ids of the devices it updated. One statement per updateChunk
// devices instead of one per device: at 100,000 devices the statements'
// own overhead was a tenth of the writer's time on SQLite, and each is a
// round trip on PostgreSQL. On SQLite each row is found by its rowid
// (evalDevice.row), then checked to be the device's.
func updateResults(ctx context.Context, tx *Tx, dia dialect, batch []outcome, at string) (map[string]bool, error) {
	updated := make(map[string]bool, len(batch))
	var args []any
	var full string // the statement of a whole chunk, built once
	flush := func() error {
		k := len(args) / updateCols
		if k == 0 {
			return nil
		}
		stmt := full
		if k < updateChunk || full == "" {
			stmt = updateResultsSQL(dia, k)
			if k == updateChunk {
				full = stmt
			}
		}
		err := eachRow(ctx, tx, stmt, append(args, at), func(rows *sql.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			updated[id] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("store compliance: %w", err)
		}
		args = args[:0]
		return nil
	}
	for j := range batch {
		o := &batch[j]
		if !o.dev.stored {
			continue
		}
		args = append(args, o.State, o.Doc, o.Failing, o.dev.id, o.dev.row, o.dev.rev)
		if len(args) == updateChunk*updateCols {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return updated, nil
}

// updateCols is how many parameters updateResults binds per device.
const updateCols = 6

// updateResultsSQL is updateResults' statement for k devices. The time is
// the last parameter: SQLite numbers parameters in the order they first
// appear in the text. row and rev are cast: PostgreSQL types VALUES'
// parameters as text. On SQLite a row is found by its rowid and must
// still be the device's (a row deleted since the fleet was read may have
// left its rowid to another device's); on PostgreSQL, by the device id.
//
// By rowid, the 100,000 updates of a fleet evaluation no longer look each
// device up in device_compliance's key index (device ids are random, so
// most lookups read an index page from the file): 1.64 -> 1.33 million
// page reads per run of BenchmarkReevaluateFleet (a first evaluation and
// three timed ones).
func updateResultsSQL(dia dialect, k int) string {
	var b strings.Builder
	b.WriteString(`WITH v (state, results, failing, device_id, row, rev) AS (VALUES `)
	for i := range k {
		if i > 0 {
			b.WriteString(", ")
		}
		n := updateCols * i
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, CAST($%d AS BIGINT), CAST($%d AS BIGINT))", n+1, n+2, n+3, n+4, n+5, n+6)
	}
	find := `device_compliance.device_id = v.device_id`
	if !dia.postgres() {
		find = `device_compliance.rowid = v.row AND ` + find
	}
	b.WriteString(`) UPDATE device_compliance SET rev = device_compliance.rev + 1, state = v.state, results = v.results, failing = v.failing, evaluated_at = $` + strconv.Itoa(updateCols*k+1) + `
		FROM v WHERE ` + find + ` AND device_compliance.rev = v.rev RETURNING device_compliance.device_id`)
	return b.String()
}

// maxFleetReaders caps the fleet evaluation's concurrent reads.
const maxFleetReaders = 4

// readFleet hands every reported, unrevoked device with current facts to
// send (see scanFleet), reading k ranges of device numbers at once on as
// many connections: the engine's row stepping is most of a fleet
// evaluation's CPU. Devices whose facts are missing or of an older
// FactsVersion get facts derived from their snapshot (backfillFacts) and
// are then read by id. It returns how many devices it handed over.
func (r *Registry) readFleet(ctx context.Context, k int, send func(d *evalDevice, facts []byte, texts bool) bool) (int, error) {
	parts, err := r.fleetParts(ctx, k)
	if err != nil {
		return 0, err
	}
	ns := make([]int, len(parts))
	stale := make([][]string, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns[i], stale[i], errs[i] = r.scanFleet(ctx, r.db, p.cond, p.args, compliance.FactsVersion, func(d *evalDevice, facts []byte) { send(d, facts, true) })
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ns {
		n += m
	}
	m, err := r.readAgain(ctx, k, nil, slices.Concat(stale...), send)
	return n + m, err
}

// readAgain reads the devices ids by id, in chunks on k connections at
// once, and hands them to send with their texts; then those stale, and
// those of ids whose facts turn out missing or older, get facts derived
// from their snapshot (backfillFacts) and are read too. It returns how
// many devices it handed over.
func (r *Registry) readAgain(ctx context.Context, k int, ids, stale []string, send func(d *evalDevice, facts []byte, texts bool) bool) (int, error) {
	var mu sync.Mutex
	byID := func(ids []string, minV int) (int, []string, error) {
		var chunks [][]string
		for i := 0; i < len(ids); i += evalChunk {
			chunks = append(chunks, ids[i:min(i+evalChunk, len(ids))])
		}
		n := 0
		var stale []string
		var errs []error
		var wg sync.WaitGroup
		next := make(chan []string)
		for range min(k, len(chunks)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for chunk := range next {
					m, s, err := r.scanFleet(ctx, r.db, ` AND d.id IN (`+placeholders(2, len(chunk))+`)`, anys(chunk), minV, func(d *evalDevice, facts []byte) { send(d, facts, true) })
					mu.Lock()
					n, stale = n+m, append(stale, s...)
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}()
		}
		for _, c := range chunks {
			next <- c
		}
		close(next)
		wg.Wait()
		return n, stale, errors.Join(errs...)
	}
	n, more, err := byID(ids, compliance.FactsVersion)
	if err != nil {
		return 0, err
	}
	stale = append(stale, more...)
	if len(stale) == 0 {
		return n, nil
	}
	if err := r.backfillFacts(ctx, stale); err != nil {
		return 0, err
	}
	// Facts of any version now: a device whose snapshot could not give
	// newer ones is judged on the ones it has.
	m, _, err := byID(stale, 0)
	return n + m, err
}

// readFleetKeys is readFleet for an evaluation with a cache: it reads
// each table's few columns the evaluation needs, not the facts and
// results texts, in one pass each and joins them here (joined by the
// engine, every device costs a lookup in each table, ~2.4 s at 100,000
// devices on SQLite), hands send the devices its cache holds, and reads
// the others again with their texts (readAgain). device_compliance is
// read first: a facts or register change after it bumps the rev the
// evaluation then writes under, so its outcome is dropped (EvaluateAll);
// later inputs are only newer.
//
// size is about how many devices there are (the last evaluation's): the
// tables' maps are made at that size, as growing them a doubling at a
// time from empty made twice the garbage.
func (r *Registry) readFleetKeys(ctx context.Context, k, size int, send func(d *evalDevice, facts []byte, texts bool) bool) (int, error) {
	// Every device with a device_compliance row gets its evalDevice here,
	// from one slab; the other reads fill in their columns, found through
	// byID, which is read-only once this read is done. One map for the
	// three tables instead of one each: at 100,000 devices each insert or
	// lookup in a map of that size cost ~0.05 s of CPU.
	byID := make(map[string]*evalDevice, size)
	devices := slab[evalDevice]{chunk: size}
	err := eachRow(ctx, r.db, `SELECT c.device_id, c.rev, coalesce(c.evaluated_at, ''), c.state, c.failing, `+r.dia.rowid("c")+` FROM device_compliance c`, nil, func(rows *sql.Rows) error {
		d := devices.alloc()
		d.stored = true
		if err := rows.Scan(&d.id, &d.rev, &d.at, &d.state, &d.failing, &d.row); err != nil {
			return err
		}
		byID[d.id] = d
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read fleet compliance: %w", err)
	}
	// devRow is a device of the devices table: its evalDevice, the one
	// from byID or, for a device never evaluated, a new one.
	type devRow struct {
		num      int64
		d        *evalDevice
		reported bool
	}
	devs := make([]devRow, 0, size)
	// newFacts are the facts versions of the devices without a
	// device_compliance row (byID has the others').
	newFacts := map[string]int{}
	assets := map[string]*compliance.AssetFacts{}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		errs[0] = eachRow(ctx, r.db, `SELECT id, num, last_seen, last_hash <> '' FROM devices WHERE state <> $1`, []any{StateRevoked}, func(rows *sql.Rows) error {
			var id, lastSeen string
			var dr devRow
			if err := rows.Scan(&id, &dr.num, &lastSeen, &dr.reported); err != nil {
				return err
			}
			if dr.d = byID[id]; dr.d == nil {
				dr.d = &evalDevice{id: id}
			}
			dr.d.num, dr.d.lastSeen = dr.num, parseTime(lastSeen)
			devs = append(devs, dr)
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		errs[1] = eachRow(ctx, r.db, fleetFactsKeys, nil, func(rows *sql.Rows) error {
			var id string
			var v int
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			if d := byID[id]; d != nil {
				d.factsV, d.hasFacts = v, true
			} else {
				newFacts[id] = v
			}
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		errs[2] = eachRow(ctx, r.db, `SELECT l.device_id, `+assetCols+` FROM asset_links l JOIN assets a ON a.id = l.asset_id`, nil, func(rows *sql.Rows) error {
			var id string
			var a assetRow
			if err := rows.Scan(append([]any{&id}, a.dest()...)...); err != nil {
				return err
			}
			assets[id] = a.facts()
			return nil
		})
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("read fleet facts: %w", err)
	}
	// In device number order, the batches of changed devices the workers
	// hand to the writer (evaluateFleet) each cover a narrow range of
	// numbers, as the compliance history is keyed (its rows of one
	// instant, and its device index) and device_compliance's rows lie
	// (by rowid: created at the first report, in about the order devices
	// enrolled): their writes touch a few pages each instead of pages all
	// over the tables. Batches in device id order put each batch's rows
	// of the history all over the evaluation's instant: 2.7 times as long
	// at 100,000 devices (BenchmarkReevaluateFleet).
	slices.SortFunc(devs, func(a, b devRow) int { return cmp.Compare(a.num, b.num) })
	n := 0
	var again, stale []string
	for _, dr := range devs {
		d := dr.d
		if !d.stored {
			d.factsV, d.hasFacts = newFacts[d.id]
		}
		switch {
		case !d.hasFacts && !dr.reported:
			continue // never reported
		case !d.hasFacts || d.factsV < compliance.FactsVersion:
			stale = append(stale, d.id)
			continue
		}
		if len(assets) > 0 {
			d.asset = assets[d.id]
		}
		if send(d, nil, false) {
			n++
		} else {
			again = append(again, d.id)
		}
	}
	m, err := r.readAgain(ctx, k, again, stale, send)
	return n + m, err
}

// updateFactsText rewrites a device's facts of the same version. It
// leaves facts_v out of its SET, which is how SQLite knows to leave the
// index of (device_id, facts_v) alone: a report changes the facts text
// (collected_at at least), almost never their version.
const updateFactsText = `UPDATE device_facts SET facts = $2 WHERE device_id = $1 AND facts_v = $3`

// storeFacts stores a device's facts (after a report, or derived for the
// fleet evaluation): the text alone when the stored facts are of the same
// version, else the whole row.
func storeFacts(ctx context.Context, tx *Tx, device, facts string, v int) error {
	res, err := tx.ExecContext(ctx, updateFactsText, device, facts, v)
	if err != nil {
		return fmt.Errorf("store facts: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO device_facts (device_id, facts, facts_v) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET facts = excluded.facts, facts_v = excluded.facts_v`, device, facts, v); err != nil {
		return fmt.Errorf("store facts: %w", err)
	}
	return nil
}

// fleetFactsKeys reads every device's facts version for readFleetKeys,
// from the index that holds only those (device_facts_keys, migration 0026),
// not the table with the facts texts.
const fleetFactsKeys = `SELECT device_id, facts_v FROM device_facts`

// eachRow runs query and calls fn for every row.
func eachRow(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fleetPart is a range of device numbers as a condition for scanFleet.
type fleetPart struct {
	cond string
	args []any
}

// fleetParts splits the devices into k ranges of device numbers of equal
// width (numbers are given in order of enrolment and never reused, so the
// ranges hold about as many devices each, and each is read in the order
// it was stored). Every device has a number (0019's trigger on SQLite, an
// identity column on PostgreSQL).
func (r *Registry) fleetParts(ctx context.Context, k int) ([]fleetPart, error) {
	var lo, hi sql.NullInt64
	if err := r.db.QueryRowContext(ctx, `SELECT min(num), max(num) FROM devices`).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("read fleet facts: %w", err)
	}
	if !lo.Valid || k <= 1 || hi.Int64-lo.Int64 < int64(k) {
		return []fleetPart{{}}, nil
	}
	width := (hi.Int64 - lo.Int64 + 1) / int64(k)
	parts := []fleetPart{{cond: ` AND d.num < $2`, args: []any{lo.Int64 + width}}}
	for i := int64(1); i < int64(k)-1; i++ {
		parts = append(parts, fleetPart{cond: ` AND d.num >= $2 AND d.num < $3`, args: []any{lo.Int64 + i*width, lo.Int64 + (i+1)*width}})
	}
	return append(parts, fleetPart{cond: ` AND d.num >= $2`, args: []any{lo.Int64 + int64(k-1)*width}}), nil
}

// scanFleet reads the stored inputs of every unrevoked device that has
// facts or has reported (cond narrows them: " AND d.id IN ($2, …)" with
// args; "" reads them all) and hands each whose facts are of version minV
// or newer, with its undecoded facts, to fn; it returns how many it
// handed over and the ids of the others (facts missing or older). The
// facts are valid only until fn returns (the row buffer is reused).
func (r *Registry) scanFleet(ctx context.Context, q querier, cond string, args []any, minV int, fn func(d *evalDevice, facts []byte)) (int, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.id, d.num, d.last_seen, f.device_id IS NOT NULL, coalesce(f.facts_v, 0), f.facts,
		c.device_id IS NOT NULL, coalesce(c.rev, 0), coalesce(`+r.dia.rowid("c")+`, 0), coalesce(c.evaluated_at, ''), coalesce(c.state, ''), coalesce(c.results, ''), coalesce(c.failing, ''), `+assetCols+`
		FROM devices d LEFT JOIN device_facts f ON f.device_id = d.id LEFT JOIN device_compliance c ON c.device_id = d.id`+assetJoin+`
		WHERE d.state <> $1 AND (f.device_id IS NOT NULL OR d.last_hash <> '')`+cond, append([]any{StateRevoked}, args...)...)
	if err != nil {
		return 0, nil, fmt.Errorf("read fleet facts: %w", err)
	}
	defer rows.Close()
	n := 0
	var stale []string
	var facts sql.RawBytes
	for rows.Next() {
		d := &evalDevice{}
		var lastSeen string
		var hasFacts bool
		var asset assetRow
		if err := rows.Scan(append([]any{&d.id, &d.num, &lastSeen, &hasFacts, &d.factsV, &facts, &d.stored, &d.rev, &d.row, &d.at, &d.state, &d.results, &d.failing}, asset.dest()...)...); err != nil {
			return 0, nil, fmt.Errorf("read fleet facts: %w", err)
		}
		if !hasFacts || d.factsV < minV {
			stale = append(stale, d.id)
			continue
		}
		d.lastSeen, d.asset = parseTime(lastSeen), asset.facts()
		fn(d, facts)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("read fleet facts: %w", err)
	}
	return n, stale, nil
}

// backfillFacts derives facts from the stored snapshot for devices that
// reported before facts were stored, or whose facts are of an older
// FactsVersion (the fleet evaluation's read finds them).
func (r *Registry) backfillFacts(ctx context.Context, ids []string) error {
	for _, id := range ids {
		cs, err := r.loadSnapshot(ctx, r.db, id)
		if err != nil || cs == nil {
			r.logger.Warn("no snapshot to derive compliance facts from", "device_id", id, "err", err)
			continue
		}
		fj, err := json.Marshal(compliance.FactsFromSnapshot(cs.snap))
		if err != nil {
			return fmt.Errorf("encode facts: %w", err)
		}
		err = r.Write(ctx, func(tx *Tx) error { return storeFacts(ctx, tx, id, string(fj), compliance.FactsVersion) })
		if err != nil {
			return fmt.Errorf("device %s: %w", id, err)
		}
	}
	return nil
}

// softwareIndex answers every software pattern of the set for the whole
// fleet, one query per pattern.
type softwareIndex map[string]map[string][]wire.Package

// fleetView is one device's view of the index.
type fleetView struct {
	idx    softwareIndex
	device string
}

func (v fleetView) Match(pattern string) ([]wire.Package, error) {
	m, ok := v.idx[pattern]
	if !ok {
		return nil, fmt.Errorf("software pattern %q was not indexed", pattern)
	}
	return m[v.device], nil
}

func (idx softwareIndex) view(device string) compliance.SoftwareView {
	return fleetView{idx: idx, device: device}
}

func (r *Registry) softwareIndex(ctx context.Context, set *compliance.Set) (softwareIndex, error) {
	idx := softwareIndex{}
	for _, pats := range set.SoftwarePatterns() {
		for _, p := range pats {
			if _, ok := idx[p]; ok {
				continue
			}
			m, err := r.matchSoftware(ctx, p)
			if err != nil {
				return nil, err
			}
			idx[p] = m
		}
	}
	return idx, nil
}

// matchSoftware finds every installed package matching a policy pattern.
// A LIKE ignoring case narrows the catalogue's few thousand package
// versions, which then join their devices; the engine's own matcher
// decides, so both agree on every name. CROSS JOIN makes SQLite, which
// keeps no statistics, start from the catalogue and seek device_software
// by catalogue id; left to choose, it scanned every device's packages per
// pattern (0.44 s at 1,000 devices of 750 packages, 0.02 s this way).
func (r *Registry) matchSoftware(ctx context.Context, pattern string) (map[string][]wire.Package, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT d.id, c.source, c.name, c.arch, c.version, c.publisher
		FROM software_catalogue c CROSS JOIN device_software w JOIN devices d ON d.num = w.device_num
		WHERE w.package_id = c.id AND lower(c.name) LIKE lower($1) ESCAPE '\'`, softwareLike(pattern))
	if err != nil {
		return nil, fmt.Errorf("match software %q: %w", pattern, err)
	}
	defer rows.Close()
	out := map[string][]wire.Package{}
	for rows.Next() {
		var dev string
		var p wire.Package
		if err := rows.Scan(&dev, &p.Source, &p.Name, &p.Arch, &p.Version, &p.Publisher); err != nil {
			return nil, fmt.Errorf("match software %q: %w", pattern, err)
		}
		if compliance.MatchPattern(pattern, p.Name) {
			out[dev] = append(out[dev], p)
		}
	}
	return out, rows.Err()
}
