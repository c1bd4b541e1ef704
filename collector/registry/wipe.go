package registry

// Offboarding wipes (DESIGN.md "Offboarding and wipe"). A wipe request
// walks requested → delivered → in_progress → completed | failed, then
// verified; it may be cancelled, and it expires when its deadline passes
// before the device took it. The agent path delivers a signed command in
// the device's next ack (the API signs what PendingCommands returns); the
// manual path records a wipe done elsewhere. Completion revokes the
// device's certificates and moves its asset to decommissioned (or in_stock
// for reuse) in the same transaction; a later enrolment of the same
// hardware verifies the wipe. Every change is a wipe_transitions row, and
// the request keeps its own copy of what identified the machine so that
// the record outlives the device's re-enrolment or deletion.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/collector/offboard"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// Wipe states (collector/offboard defines them with the lifecycle).
const (
	WipeRequested  = offboard.Requested
	WipeDelivered  = offboard.Delivered
	WipeInProgress = offboard.InProgress
	WipeCompleted  = offboard.Completed
	WipeFailed     = offboard.Failed
	WipeVerified   = offboard.Verified
	WipeCancelled  = offboard.Cancelled
	WipeExpired    = offboard.Expired
)

// Wipe methods: the agent erases, or someone records a wipe done
// elsewhere (MDM, technician, ITAD vendor).
const (
	WipeMethodAgent  = "agent"
	WipeMethodManual = "manual"
)

// Device history kinds of the wipe lifecycle.
const (
	KindWipeRequested = "wipe_requested"
	KindWipeCompleted = "wipe_completed"
	KindWipeFailed    = "wipe_failed"
	KindWipeCancelled = "wipe_cancelled"
	KindWipeExpired   = "wipe_expired"
	KindWipeVerified  = "wipe_verified"
)

// DefaultWipeDeadline is how long a device has to take its wipe command
// before the request expires and the asset is escalated.
const DefaultWipeDeadline = 14 * 24 * time.Hour

// maxEvidenceBytes bounds a stored evidence file.
const maxEvidenceBytes = 1 << 20

// ErrWipeConflict is a transition the lifecycle does not allow (409).
var ErrWipeConflict = fault.New(fault.Conflict, "conflict", "wipe state conflict")

// manualHint ends every failure the agent cannot get past.
const manualHint = "wipe the device another way and record it: rosterctl offboard record-wipe ID --method ... --tool ... --performed-by ... --verified-by ..."

// WipeActor is who moved a wipe: a person, an API token, the device or
// the collector itself.
type WipeActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Wipe actor kinds.
const (
	ActorPerson    = "person"
	ActorToken     = "token"
	ActorDevice    = "device"
	ActorCollector = "collector"
)

// WipeTransition is one recorded state change (API keys).
type WipeTransition struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  WipeActor `json:"actor"`
	Detail string    `json:"detail"`
}

// Wipe is a wipe request with its history (API keys).
type Wipe struct {
	ID             string     `json:"id"`
	DeviceID       string     `json:"device_id"`
	AssetID        string     `json:"asset_id"`
	AssetTag       string     `json:"asset_tag"`
	Hostname       string     `json:"hostname"`
	Vendor         string     `json:"vendor"`
	Model          string     `json:"model"`
	SystemSerial   string     `json:"system_serial"`
	Classification string     `json:"classification"`
	Ticket         string     `json:"ticket"`
	Reason         string     `json:"reason"`
	Method         string     `json:"method"`
	Reuse          bool       `json:"reuse"`
	State          string     `json:"state"`
	IssuedAt       time.Time  `json:"issued_at"`
	Deadline       time.Time  `json:"deadline"`
	CreatedBy      string     `json:"created_by"`
	CreatedByID    string     `json:"created_by_id"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	CompletedAt    *time.Time `json:"completed_at"`
	VerifiedAt     *time.Time `json:"verified_at"`
	FailureReason  string     `json:"failure_reason"`
	WipeMethod     string     `json:"wipe_method"`
	Tool           string     `json:"tool"`
	ToolVersion    string     `json:"tool_version"`
	PerformedBy    string     `json:"performed_by"`
	VerifiedBy     string     `json:"verified_by"`
	EvidenceName   string     `json:"evidence_name"`
	EvidenceSHA256 string     `json:"evidence_sha256"`
	ReenrolledAt   *time.Time `json:"reenrolled_at"`
	Verification   string     `json:"verification"`
	// SinglePerson says which separation-of-duties rules a manual record
	// relied on offboarding.allow_single_person to relax ("" for none).
	SinglePerson string `json:"single_person"`
	// Escalated: the deadline passed before the device took the wipe.
	Escalated   bool             `json:"escalated"`
	Transitions []WipeTransition `json:"transitions"`

	nonce, owner, location, statusBefore string
}

// Final reports whether the wipe can no longer change (verified and
// cancelled); completed still awaits verification.
func (w *Wipe) Final() bool { return offboard.Final(w.State) }

const wipeCols = `id, device_id, asset_id, asset_tag, asset_status_before, hostname, vendor, model, system_serial, classification,
	owner, location, ticket, reason, method, reuse, state, nonce, issued_at, deadline, created_by, created_at, updated_at,
	completed_at, verified_at, failure_reason, wipe_method, tool, tool_version, performed_by, verified_by,
	evidence_name, evidence_sha256, reenrolled_at, verification, created_by_id, single_person`

func scanWipe(row interface{ Scan(...any) error }) (Wipe, error) {
	var w Wipe
	var reuse int
	var issued, deadline, created, updated string
	var completed, verified, reenrolled sql.NullString
	err := row.Scan(&w.ID, &w.DeviceID, &w.AssetID, &w.AssetTag, &w.statusBefore, &w.Hostname, &w.Vendor, &w.Model, &w.SystemSerial, &w.Classification,
		&w.owner, &w.location, &w.Ticket, &w.Reason, &w.Method, &reuse, &w.State, &w.nonce, &issued, &deadline, &w.CreatedBy, &created, &updated,
		&completed, &verified, &w.FailureReason, &w.WipeMethod, &w.Tool, &w.ToolVersion, &w.PerformedBy, &w.VerifiedBy,
		&w.EvidenceName, &w.EvidenceSHA256, &reenrolled, &w.Verification, &w.CreatedByID, &w.SinglePerson)
	if err != nil {
		return Wipe{}, err
	}
	w.Reuse = reuse != 0
	w.IssuedAt, w.Deadline, w.CreatedAt, w.UpdatedAt = parseTime(issued), parseTime(deadline), parseTime(created), parseTime(updated)
	w.CompletedAt, w.VerifiedAt, w.ReenrolledAt = timePtr(completed), timePtr(verified), timePtr(reenrolled)
	w.Escalated = w.State == WipeExpired
	w.Transitions = []WipeTransition{}
	return w, nil
}

func wipeByID(ctx context.Context, q querier, id string) (Wipe, error) {
	w, err := scanWipe(q.QueryRowContext(ctx, `SELECT `+wipeCols+` FROM wipe_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Wipe{}, ErrNotFound.Errorf("no wipe request %s", id)
	}
	if err != nil {
		return Wipe{}, fmt.Errorf("read wipe request: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT at, from_state, to_state, actor_kind, actor_id, actor_name, detail FROM wipe_transitions WHERE wipe_id = $1 ORDER BY id`, w.ID)
	if err != nil {
		return Wipe{}, fmt.Errorf("read wipe transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t WipeTransition
		var at string
		if err := rows.Scan(&at, &t.From, &t.To, &t.Actor.Kind, &t.Actor.ID, &t.Actor.Name, &t.Detail); err != nil {
			return Wipe{}, fmt.Errorf("read wipe transitions: %w", err)
		}
		t.At = parseTime(at)
		w.Transitions = append(w.Transitions, t)
	}
	return w, rows.Err()
}

// WipeStart asks for a wipe.
type WipeStart struct {
	// Ref is a device id, serial or hostname, or an asset tag (an asset
	// without an enrolled device can only be wiped by the manual path).
	Ref    string
	Ticket string
	Reason string
	// Method is agent (default) or manual.
	Method string
	// Reuse sends the asset back to in_stock instead of decommissioned.
	Reuse bool
	// Deadline is how long the device has to take the command
	// (DefaultWipeDeadline when zero).
	Deadline time.Duration
	Actor    WipeActor
}

// StartWipe creates a wipe request and sets the asset to offboarding, in
// one transaction. It is a conflict when the device or asset already has
// a wipe under way, or the asset's lifecycle does not allow offboarding.
func (r *Registry) StartWipe(ctx context.Context, in WipeStart, now time.Time) (Wipe, error) {
	now = now.UTC()
	if in.Method == "" {
		in.Method = WipeMethodAgent
	}
	if in.Deadline == 0 {
		in.Deadline = DefaultWipeDeadline
	}
	for _, c := range []struct {
		name, v string
	}{{"ticket", in.Ticket}, {"reason", in.Reason}} {
		if err := checkText(c.name, c.v, true); err != nil {
			return Wipe{}, fmt.Errorf("start wipe: %w", err)
		}
	}
	switch {
	case in.Method != WipeMethodAgent && in.Method != WipeMethodManual:
		return Wipe{}, fmt.Errorf("start wipe: %w", ErrInvalid.Errorf("method %q: want agent or manual", in.Method))
	case in.Deadline < time.Minute || in.Deadline > 366*24*time.Hour:
		return Wipe{}, fmt.Errorf("start wipe: %w", ErrInvalid.Errorf("deadline %s: want a minute to a year", in.Deadline))
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return Wipe{}, fmt.Errorf("start wipe: nonce: %w", err)
	}
	state, ok := offboard.Next("", offboard.Start)
	if !ok {
		return Wipe{}, fmt.Errorf("start wipe: %w", ErrWipeConflict.Errorf("the lifecycle has no start"))
	}
	w := Wipe{ID: uuid.NewString(), Ticket: strings.TrimSpace(in.Ticket), Reason: strings.TrimSpace(in.Reason), Method: in.Method, Reuse: in.Reuse,
		nonce: hex.EncodeToString(nonce), IssuedAt: now, Deadline: now.Add(in.Deadline), CreatedBy: in.Actor.Name,
		CreatedByID: in.Actor.ID}
	start := w
	err := r.Write(ctx, func(tx *Tx) error {
		w = start // wipeSubject and transition fill w in; a retried run starts over
		if err := r.wipeSubject(ctx, tx, in.Ref, &w); err != nil {
			return err
		}
		if w.DeviceID == "" && w.Method == WipeMethodAgent {
			return ErrInvalid.Errorf("%s has no enrolled device to send a wipe to: use --method manual", in.Ref)
		}
		var open string
		err := tx.QueryRowContext(ctx, `SELECT id FROM wipe_requests WHERE state IN ($1, $2, $3) AND ((device_id <> '' AND device_id = $4) OR (asset_id <> '' AND asset_id = $5)) LIMIT 1`,
			WipeRequested, WipeDelivered, WipeInProgress, w.DeviceID, w.AssetID).Scan(&open)
		switch {
		case err == nil:
			return ErrWipeConflict.Errorf("wipe %s is already under way for %s", open, in.Ref)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if w.AssetTag != "" && w.statusBefore != assetcsv.StatusOffboarding {
			if err := r.setAssetStatus(ctx, tx, w.AssetTag, assetcsv.StatusOffboarding, in.Actor, now); err != nil {
				return err
			}
		}
		ts := fmtTime(now)
		_, err = tx.ExecContext(ctx, `INSERT INTO wipe_requests (id, device_id, asset_id, asset_tag, asset_status_before, hostname, vendor, model, system_serial,
			classification, owner, location, ticket, reason, method, reuse, state, nonce, issued_at, deadline, created_by, created_at, updated_at, created_by_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $23)`,
			w.ID, w.DeviceID, w.AssetID, w.AssetTag, w.statusBefore, w.Hostname, w.Vendor, w.Model, w.SystemSerial,
			w.Classification, w.owner, w.location, w.Ticket, w.Reason, w.Method, boolInt(w.Reuse), state, w.nonce, ts, fmtTime(w.Deadline), w.CreatedBy, ts, w.CreatedByID)
		if err != nil {
			return fmt.Errorf("store wipe request: %w", err)
		}
		detail := fmt.Sprintf("ticket %s: %s (method %s, deadline %s)", w.Ticket, w.Reason, w.Method, fmtTime(w.Deadline))
		if err := addIssueCerts(ctx, tx, w.ID, w.DeviceID, now); err != nil {
			return err
		}
		return r.transition(ctx, tx, &w, offboard.Start, in.Actor, detail, now)
	})
	if err != nil {
		return Wipe{}, fmt.Errorf("start wipe: %w", err)
	}
	return r.Wipe(ctx, w.ID)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// wipeSubject fills w's device and asset from ref: a device (and its
// linked asset), else an asset by tag or serial.
func (r *Registry) wipeSubject(ctx context.Context, tx *Tx, ref string, w *Wipe) error {
	ref = strings.TrimSpace(ref)
	const assetFields = `a.id, a.asset_tag, a.status, a.classification, a.owner, a.location, a.model, a.serial_raw`
	scanAsset := func(row *sql.Row) error {
		var model, serial string
		err := row.Scan(&w.AssetID, &w.AssetTag, &w.statusBefore, &w.Classification, &w.owner, &w.location, &model, &serial)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if w.Model == "" {
			w.Model = model
		}
		if w.SystemSerial == "" {
			w.SystemSerial = serial
		}
		return err
	}
	id, err := r.resolve(ctx, tx, ref)
	switch {
	case err == nil:
		d, err := r.deviceByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.State == StateRevoked && w.Method == WipeMethodAgent {
			return ErrWipeConflict.Errorf("device %s is revoked and cannot receive a command: use --method manual", id)
		}
		w.DeviceID, w.Hostname, w.Vendor, w.Model, w.SystemSerial = d.ID, d.Hostname, d.Vendor, d.Model, d.SystemSerial
		return scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetFields+` FROM asset_links l JOIN assets a ON a.id = l.asset_id WHERE l.device_id = $1`, id))
	case !errors.Is(err, ErrNotFound):
		return err
	}
	err = scanAsset(tx.QueryRowContext(ctx, `SELECT `+assetFields+` FROM assets a WHERE a.tag_key = $1 OR (a.serial <> '' AND a.serial = $2) LIMIT 1`, tagKey(ref), identity.Serial(ref)))
	if err != nil {
		return err
	}
	if w.AssetID == "" {
		return ErrNotFound.Errorf("no device or asset %q", ref)
	}
	return nil
}

// setAssetStatus moves an asset through the register's own write path
// (lifecycle check, register history, re-link and re-flag) inside tx. A
// lifecycle refusal is a conflict.
func (r *Registry) setAssetStatus(ctx context.Context, tx *Tx, tag, status string, actor WipeActor, now time.Time) error {
	row := assetcsv.Row{AssetTag: tag, Status: status, Columns: []string{assetcsv.ColStatus}}
	_, err := r.writeOneTx(ctx, tx, row, modeUpdate, Actor{ID: actor.ID, Name: actor.Name}, now)
	var rows *RowsError
	if errors.As(err, &rows) && len(rows.Rows) > 0 {
		// An asset status the lifecycle forbids is the wipe's conflict.
		return ErrWipeConflict.Errorf("%s", rows.Rows[0].Message)
	}
	return err
}

// resettleAsset recomputes an asset's links and flags inside tx.
func (r *Registry) resettleAsset(ctx context.Context, tx *Tx, assetID string, actor Actor, now time.Time) error {
	if assetID == "" {
		return nil
	}
	sc, err := r.loadScope(ctx, tx, nil, []string{assetID})
	if err != nil {
		return err
	}
	_, err = r.settle(ctx, tx, sc, actor, now)
	return err
}

// transition moves w by ev as the lifecycle table says (wipelifecycle.go)
// and records the change; a repeat records nothing, a pair the table does
// not allow is a conflict.
func (r *Registry) transition(ctx context.Context, tx *Tx, w *Wipe, ev offboard.Event, actor WipeActor, detail string, now time.Time) error {
	from := w.State
	to, err := w.next(ev)
	if err != nil {
		return err
	}
	if to == from {
		return nil
	}
	ts := fmtTime(now)
	if from != "" {
		res, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4`, to, ts, w.ID, from)
		if err != nil {
			return fmt.Errorf("update wipe state: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrWipeConflict.Errorf("wipe %s is no longer %s", w.ID, from)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO wipe_transitions (wipe_id, at, from_state, to_state, actor_kind, actor_id, actor_name, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, w.ID, ts, from, to, actor.Kind, actor.ID, actor.Name, detail); err != nil {
		return fmt.Errorf("record wipe transition: %w", err)
	}
	if err := r.audit(ctx, tx, "wipe."+to, "wipe:"+w.ID, map[string]string{"from": from, "device_id": w.DeviceID, "asset_tag": w.AssetTag,
		"ticket": w.Ticket, "actor": actor.Name, "detail": detail}); err != nil {
		return err
	}
	w.State = to
	// Every transition is also an event (wipe.<state>) for webhooks, in
	// this transaction: a runbook or ticketing system can follow the
	// offboarding without polling.
	data, err := json.Marshal(map[string]string{"wipe_id": w.ID, "ticket": w.Ticket, "from": from, "to": to,
		"actor_kind": actor.Kind, "actor": actor.Name, "detail": detail})
	if err != nil {
		return fmt.Errorf("encode wipe event: %w", err)
	}
	if _, err := r.emit(ctx, tx, r.compState(), []webhook.Event{{Kind: "wipe." + to, At: now, DeviceID: w.DeviceID, AssetTag: w.AssetTag,
		Subject: "wipe " + w.ID + " " + to, Data: data}}); err != nil {
		return err
	}
	if w.DeviceID == "" {
		return nil
	}
	kind := map[string]string{WipeRequested: KindWipeRequested, WipeCompleted: KindWipeCompleted, WipeFailed: KindWipeFailed,
		WipeCancelled: KindWipeCancelled, WipeExpired: KindWipeExpired, WipeVerified: KindWipeVerified}[to]
	if kind == "" {
		return nil
	}
	// The device's own history shows the lifecycle too; insert directly
	// because the device row may be gone (the wipe record outlives it).
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM devices WHERE id = $1`, w.DeviceID).Scan(&n); err != nil || n == 0 {
		return err
	}
	return insertHistory(ctx, tx, w.DeviceID, now, 0, []deviceChange{{Kind: kind, Subject: w.ID, Old: from, New: detail}})
}

// Wipe returns a wipe request with its transitions.
func (r *Registry) Wipe(ctx context.Context, id string) (Wipe, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Wipe{}, ErrNotFound.Errorf("no wipe request %q", id)
	}
	return wipeByID(ctx, r.db, id)
}

// wipeInsertOrder orders wipe requests created in the same instant by
// insertion: their first transition's id (generated on both engines),
// where SQLite alone has a rowid.
const wipeInsertOrder = `(SELECT min(t.id) FROM wipe_transitions t WHERE t.wipe_id = wipe_requests.id)`

// WipeByRef returns the wipe request ref names: a wipe id, else the
// newest wipe of the device or asset ref names.
func (r *Registry) WipeByRef(ctx context.Context, ref string) (Wipe, error) {
	if w, err := r.Wipe(ctx, ref); !errors.Is(err, ErrNotFound) {
		return w, err
	}
	var id string
	dev, err := r.resolve(ctx, r.db, ref)
	switch {
	case err == nil:
		err = r.db.QueryRowContext(ctx, `SELECT id FROM wipe_requests WHERE device_id = $1 ORDER BY created_at DESC, `+wipeInsertOrder+` DESC LIMIT 1`, dev).Scan(&id)
	case errors.Is(err, ErrNotFound):
		err = r.db.QueryRowContext(ctx, `SELECT id FROM wipe_requests WHERE asset_tag <> '' AND upper(asset_tag) = $1 ORDER BY created_at DESC, `+wipeInsertOrder+` DESC LIMIT 1`, tagKey(ref)).Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Wipe{}, ErrNotFound.Errorf("no wipe request for %q", ref)
	}
	if err != nil {
		return Wipe{}, fmt.Errorf("find wipe request: %w", err)
	}
	return wipeByID(ctx, r.db, id)
}

// change runs fn on the wipe id inside a write transaction and returns the
// wipe afterwards.
func (r *Registry) change(ctx context.Context, what, id string, fn func(tx *Tx, w *Wipe) error) (Wipe, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Wipe{}, fmt.Errorf("%s: %w", what, ErrNotFound.Errorf("no wipe request %q", id))
	}
	err := r.Write(ctx, func(tx *Tx) error {
		w, err := wipeByID(ctx, tx, id)
		if err != nil {
			return err
		}
		return fn(tx, &w)
	})
	if err != nil {
		return Wipe{}, fmt.Errorf("%s: %w", what, err)
	}
	return r.Wipe(ctx, id)
}

// CancelWipe cancels a wipe the device has not started, and returns the
// asset to the status it had before offboarding when the lifecycle allows.
func (r *Registry) CancelWipe(ctx context.Context, id string, actor WipeActor, now time.Time) (Wipe, error) {
	now = now.UTC()
	return r.change(ctx, "cancel wipe", id, func(tx *Tx, w *Wipe) error {
		if _, err := w.next(offboard.Cancel); err != nil {
			return err
		}
		detail := "cancelled"
		if w.AssetTag != "" && w.statusBefore != "" && w.statusBefore != assetcsv.StatusOffboarding &&
			assetcsv.ValidTransition(assetcsv.StatusOffboarding, w.statusBefore) == nil {
			var cur string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM assets WHERE id = $1`, w.AssetID).Scan(&cur); err == nil && cur == assetcsv.StatusOffboarding {
				if err := r.setAssetStatus(ctx, tx, w.AssetTag, w.statusBefore, actor, now); err != nil {
					return err
				}
				detail = "cancelled; asset " + w.AssetTag + " back to " + w.statusBefore
			}
		}
		return r.transition(ctx, tx, w, offboard.Cancel, actor, detail, now)
	})
}

// ExpireWipes expires every request still waiting for its device past its
// deadline (the agent never took the command, or nobody recorded a manual
// wipe): the escalation. It returns the wipes it expired.
func (r *Registry) ExpireWipes(ctx context.Context, now time.Time) ([]Wipe, error) {
	now = now.UTC()
	rows, err := r.db.QueryContext(ctx, `SELECT id FROM wipe_requests WHERE state = $1 AND deadline <= $2 ORDER BY deadline`, WipeRequested, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("expire wipes: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("expire wipes: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expire wipes: %w", err)
	}
	var out []Wipe
	for _, id := range ids {
		w, err := r.change(ctx, "expire wipe", id, func(tx *Tx, w *Wipe) error {
			// Another instance or a device may have moved it since the
			// query: the table decides, and a wipe it no longer allows to
			// expire is skipped, not refused.
			if _, ok := offboard.Next(w.State, offboard.Expire); !ok || w.Deadline.After(now) {
				return errSkip
			}
			detail := fmt.Sprintf("deadline %s passed before the device took the wipe: escalate (asset %s stays offboarding)", fmtTime(w.Deadline), w.AssetTag)
			if w.DeviceID != "" {
				var seen string
				if err := tx.QueryRowContext(ctx, `SELECT last_seen FROM devices WHERE id = $1`, w.DeviceID).Scan(&seen); err == nil {
					detail += "; device last seen " + seen
				}
			}
			if err := r.transition(ctx, tx, w, offboard.Expire, WipeActor{Kind: ActorCollector, Name: "collector"}, detail, now); err != nil {
				return err
			}
			// Raise the wipe_expired flag on the asset now, not at the next
			// periodic refresh.
			return r.resettleAsset(ctx, tx, w.AssetID, Actor{Name: "collector"}, now)
		})
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return out, err
		}
		r.logger.Warn("wipe expired: escalate", "wipe_id", w.ID, "device_id", w.DeviceID, "asset_tag", w.AssetTag, "ticket", w.Ticket)
		out = append(out, w)
	}
	return out, nil
}

// PendingWipe is a wipe command waiting for its device; the API signs it
// into a wire.SignedCommand.
type PendingWipe struct {
	ID, DeviceID, Nonce, Ticket string
	IssuedAt, ExpiresAt         time.Time
}

// Command is the wire command for p (the payload the API signs).
func (p PendingWipe) Command() wire.Command {
	return wire.Command{ID: p.ID, Kind: wire.CommandWipe, DeviceID: p.DeviceID, Nonce: p.Nonce, IssuedAt: p.IssuedAt, ExpiresAt: p.ExpiresAt,
		Wipe: &wire.WipeCommand{Method: "crypto_erase", Ticket: p.Ticket}}
}

// checkInWipes is the condition on wipe_requests (as w) for the requests a
// device's check-in acts on: an agent wipe waiting to be sent, or a
// completed wipe waiting to be verified by the device's re-enrolment.
// WipeCheckIn reads them; a heartbeat only asks whether there are any.
const checkInWipes = `((w.state = '` + WipeRequested + `' AND w.method = '` + WipeMethodAgent + `') OR (w.state = '` + WipeCompleted + `' AND w.reenrolled_at IS NOT NULL))`

// WipeCheckIn is called after a device's report or heartbeat: it returns
// the wipe commands waiting for the device that may go to the certificate
// serial it presented (until the agent says it has them; see
// deliverCommands), and verifies a completed wipe once the same hardware has
// re-enrolled and reported (see verifyWipe). Nothing is written unless
// there is something to verify.
func (r *Registry) WipeCheckIn(ctx context.Context, device, serial string, now time.Time) ([]PendingWipe, error) {
	now = now.UTC()
	rows, err := r.db.QueryContext(ctx, `SELECT id, state, nonce, ticket, issued_at, deadline, reenrolled_at FROM wipe_requests w
		WHERE device_id = $1 AND `+checkInWipes+` ORDER BY created_at`, device)
	if err != nil {
		return nil, fmt.Errorf("wipe check-in: %w", err)
	}
	var out []PendingWipe
	var verify []string
	for rows.Next() {
		var id, state, nonce, ticket, issued, deadline string
		var reenrolled sql.NullString
		if err := rows.Scan(&id, &state, &nonce, &ticket, &issued, &deadline, &reenrolled); err != nil {
			rows.Close()
			return nil, fmt.Errorf("wipe check-in: %w", err)
		}
		if state == WipeCompleted {
			verify = append(verify, id)
			continue
		}
		if exp := parseTime(deadline); exp.After(now) {
			out = append(out, PendingWipe{ID: id, DeviceID: device, Nonce: nonce, Ticket: ticket, IssuedAt: parseTime(issued), ExpiresAt: exp})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("wipe check-in: %w", err)
	}
	if out, err = r.deliverCommands(ctx, device, serial, out, now); err != nil {
		return nil, fmt.Errorf("wipe check-in: %w", err)
	}
	for _, id := range verify {
		if _, err := r.change(ctx, "verify wipe", id, func(tx *Tx, w *Wipe) error { return r.verifyWipe(ctx, tx, w, now) }); err != nil && !errors.Is(err, errSkip) {
			return out, err
		}
	}
	return out, nil
}

// verifyWipe marks a completed wipe verified once its hardware re-enrolled
// after the wipe and has reported since (so the stored snapshot is the
// fresh installation's). The evidence taken: the OS install date from that
// report when the agent knows it, which must be after the wipe (an older
// one leaves the wipe completed: the disk was not reinstalled); when the
// install date is unknown, the re-enrolment of the same hardware itself,
// which needs a newly installed agent and a new enrolment secret.
func (r *Registry) verifyWipe(ctx context.Context, tx *Tx, w *Wipe, now time.Time) error {
	if _, ok := offboard.Next(w.State, offboard.Verify); !ok || w.ReenrolledAt == nil || w.CompletedAt == nil {
		return errSkip
	}
	var enrolled string
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT enrolled_at, last_seq FROM devices WHERE id = $1`, w.DeviceID).Scan(&enrolled, &seq)
	if errors.Is(err, sql.ErrNoRows) || seq == 0 || parseTime(enrolled).Before(*w.CompletedAt) {
		return errSkip
	}
	if err != nil {
		return err
	}
	cs, err := r.loadSnapshot(ctx, tx, w.DeviceID)
	if err != nil {
		return err
	}
	var installed *time.Time
	if cs != nil && cs.snap.OS != nil {
		installed = cs.snap.OS.InstallDate
	}
	ev := fmt.Sprintf("the same hardware enrolled again at %s (matched by %s) and reported", fmtTime(*w.ReenrolledAt), w.reenrolledBy(ctx, tx))
	switch {
	case installed != nil && !installed.After(*w.CompletedAt):
		return errSkip
	case installed != nil:
		ev += fmt.Sprintf("; its OS was installed at %s, after the wipe at %s", fmtTime(*installed), fmtTime(*w.CompletedAt))
	default:
		ev += "; the agent does not know the OS install date, so the fresh enrolment is the evidence"
	}
	ts := fmtTime(now)
	basis, err := verificationBasis(ctx, tx, w.ID, installed, *w.CompletedAt)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET verified_at = $1, verification = $2, verification_basis = $3 WHERE id = $4`, ts, ev, basis, w.ID); err != nil {
		return fmt.Errorf("verify wipe: %w", err)
	}
	return r.transition(ctx, tx, w, offboard.Verify, WipeActor{Kind: ActorDevice, ID: w.DeviceID, Name: "re-enrolment"}, ev, now)
}

func (w *Wipe) reenrolledBy(ctx context.Context, q querier) string {
	var by string
	q.QueryRowContext(ctx, `SELECT reenrolled_by FROM wipe_requests WHERE id = $1`, w.ID).Scan(&by)
	return by
}

// wipeReEnrolled notes, in the enrolment's transaction, that hardware with
// a completed wipe enrolled again (matched by by, continued under rule); the wipe is verified by
// the device's first report afterwards (WipeCheckIn).
func wipeReEnrolled(ctx context.Context, tx *Tx, device, by, rule string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET reenrolled_at = $1, reenrolled_by = $2, reenrol_rule = $3 WHERE device_id = $4 AND state = $5 AND completed_at < $1`,
		fmtTime(now), by, rule, device, WipeCompleted)
	if err != nil {
		return fmt.Errorf("note re-enrolment of wiped hardware: %w", err)
	}
	return nil
}

// CommandStatusInput is an agent's status report on a command.
type CommandStatusInput struct {
	DeviceID string
	// CertSerial is the client certificate the status came with; it must
	// be one the command went to.
	CertSerial string
	Status     wire.CommandStatus
	Now        time.Time
}

// RecordCommandStatus applies an agent's status to the wipe it names: a
// wipe of another device is not found; a repeated status changes nothing
// (agents retry); a status the lifecycle does not allow is a conflict.
// refused, not_supported and failed make the wipe failed with the reason
// and the manual path's hint; completed needs evidence that every volume
// was erased with no keyslot left, else the wipe fails.
func (r *Registry) RecordCommandStatus(ctx context.Context, in CommandStatusInput) (Wipe, error) {
	st, now := in.Status, in.Now.UTC()
	event, problem, ok := offboard.AgentEvent(st.Status, st.Evidence)
	if !ok {
		return Wipe{}, fmt.Errorf("command status: %w", ErrInvalid.Errorf("unknown command status %q", st.Status))
	}
	if err := checkText("reason", st.Reason, false); err != nil {
		return Wipe{}, fmt.Errorf("command status: %w", err)
	}
	actor := WipeActor{Kind: ActorDevice, ID: in.DeviceID, Name: "roster-agent"}
	var ev []byte
	if st.Evidence != nil {
		var err error
		if ev, err = json.Marshal(st.Evidence); err != nil {
			return Wipe{}, fmt.Errorf("command status: encode evidence: %w", err)
		}
	}
	w, err := r.change(ctx, "command status", st.CommandID, func(tx *Tx, w *Wipe) error {
		if w.DeviceID != in.DeviceID {
			return ErrNotFound.Errorf("no command %s for this device", st.CommandID)
		}
		if err := r.checkCommandCert(ctx, tx, w.ID, in.CertSerial); err != nil {
			return err
		}
		to, err := w.next(event)
		if err != nil {
			return err
		}
		if to == w.State {
			// A repeat: agents retry until they hear a status was taken.
			return nil
		}
		detail := st.Status
		if st.Reason != "" {
			detail += ": " + st.Reason
		}
		if event == offboard.AgentCompletedUnproven {
			detail = "completed without proof: " + problem
		}
		switch to {
		case WipeFailed:
			if st.Status == wire.CommandRefused || st.Status == wire.CommandNotSupported {
				detail = st.Status + ": " + orDefault(st.Reason, "no reason given")
			}
			if err := storeEvidence(ctx, tx, w.ID, ev, "agent-evidence.json"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET failure_reason = $1 WHERE id = $2`, detail+"; "+manualHint, w.ID); err != nil {
				return fmt.Errorf("store failure: %w", err)
			}
		case WipeCompleted:
			e := st.Evidence
			performed := "roster-agent on " + orDefault(e.Hostname, w.Hostname) + " (device " + w.DeviceID + ")"
			if err := r.completeWipe(ctx, tx, w, completion{
				event:  event,
				method: e.Method, tool: e.Tool, toolVersion: e.ToolVersion, performedBy: performed,
				verifiedBy: "roster-agent: every LUKS header read back after the erase, no keyslot left",
				evidence:   ev, evidenceName: "agent-evidence.json",
			}, actor, detail+": "+volumeSummary(e), now); err != nil {
				return err
			}
			return nil
		}
		return r.transition(ctx, tx, w, event, actor, detail, now)
	})
	if errors.Is(err, ErrCommandNotDelivered) {
		r.auditRefusedStatus(ctx, in, err)
	}
	return w, err
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func volumeSummary(e *wire.WipeEvidence) string {
	parts := make([]string, 0, len(e.Volumes))
	for _, v := range e.Volumes {
		parts = append(parts, fmt.Sprintf("%s (LUKS%d %s) keyslots %d → %d", v.Device, v.LUKSVersion, v.LUKSUUID, v.KeyslotsBefore, v.KeyslotsAfter))
	}
	return strings.Join(parts, ", ")
}

func storeEvidence(ctx context.Context, tx *Tx, id string, ev []byte, name string) error {
	if ev == nil {
		return nil
	}
	sum := sha256.Sum256(ev)
	if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET evidence = $1, evidence_name = $2, evidence_sha256 = $3 WHERE id = $4`,
		ev, name, hex.EncodeToString(sum[:]), id); err != nil {
		return fmt.Errorf("store evidence: %w", err)
	}
	return nil
}

type completion struct {
	// event is what completed the wipe (agent_completed or manual_record).
	event                                              offboard.Event
	method, tool, toolVersion, performedBy, verifiedBy string
	evidence                                           []byte
	evidenceName                                       string
}

// completeWipe records how the wipe was done, revokes the device's
// certificates (it can no longer report under that identity) and moves the
// asset to decommissioned, or in_stock for reuse.
func (r *Registry) completeWipe(ctx context.Context, tx *Tx, w *Wipe, c completion, actor WipeActor, detail string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET completed_at = $1, wipe_method = $2, tool = $3, tool_version = $4,
		performed_by = $5, verified_by = $6, failure_reason = '' WHERE id = $7`,
		fmtTime(now), c.method, c.tool, c.toolVersion, c.performedBy, c.verifiedBy, w.ID); err != nil {
		return fmt.Errorf("store completion: %w", err)
	}
	if err := storeEvidence(ctx, tx, w.ID, c.evidence, c.evidenceName); err != nil {
		return err
	}
	if err := r.transition(ctx, tx, w, c.event, actor, detail, now); err != nil {
		return err
	}
	if w.DeviceID != "" {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM devices WHERE id = $1`, w.DeviceID).Scan(&state)
		switch {
		case err == nil && state != StateRevoked:
			if err := revokeDevice(ctx, tx, w.DeviceID, now); err != nil {
				return err
			}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	if w.AssetTag != "" {
		dest := assetcsv.StatusDecommissioned
		if w.Reuse {
			dest = assetcsv.StatusInStock
		}
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT status FROM assets WHERE id = $1`, w.AssetID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur != dest {
			return r.setAssetStatus(ctx, tx, w.AssetTag, dest, actor, now)
		}
	}
	return nil
}

// ManualWipe is a wipe done outside the agent.
type ManualWipe struct {
	Method      string
	Tool        string
	ToolVersion string
	// PerformedBy and VerifiedBy are two different people (see
	// checkManualRecord).
	PerformedBy string
	VerifiedBy  string
	// Evidence is the raw evidence file (a tool's report, a vendor's
	// certificate), stored with its SHA-256; required.
	Evidence     []byte
	EvidenceName string
}

// AllowSinglePersonWipes sets offboarding.allow_single_person: a manual
// wipe record may then be performed and verified by one person, and
// recorded by the principal who started the offboarding; the wipe and its
// certificate say so.
func (r *Registry) AllowSinglePersonWipes(allow bool) { r.singlePerson.Store(allow) }

// RecordWipe records a manual wipe: the same lifecycle and effects as the
// agent's completed. It is allowed while the request waits for a device
// and after the agent failed or the request expired. The record must pass
// checkManualRecord against the principal who started the offboarding;
// a refusal changes nothing and is audited as denied.
func (r *Registry) RecordWipe(ctx context.Context, id string, m ManualWipe, actor WipeActor, now time.Time) (Wipe, error) {
	now = now.UTC()
	w, err := r.recordWipe(ctx, id, m, actor, now)
	if err != nil && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrSeparation)) {
		if aerr := r.AuditOutside(ctx, "wipe.recorded", "wipe:"+id, audit.Denied, map[string]any{"reason": err.Error(),
			"performed_by": m.PerformedBy, "verified_by": m.VerifiedBy}); aerr != nil {
			r.logger.Error("audit refused wipe record", "wipe_id", id, "err", aerr)
		}
	}
	return w, err
}

func (r *Registry) recordWipe(ctx context.Context, id string, m ManualWipe, actor WipeActor, now time.Time) (Wipe, error) {
	for _, c := range []struct {
		name, v  string
		required bool
	}{{"method", m.Method, true}, {"tool", m.Tool, true}, {"tool_version", m.ToolVersion, false}, {"performed_by", m.PerformedBy, true},
		{"verified_by", m.VerifiedBy, true}, {"evidence_name", m.EvidenceName, false}} {
		if err := checkText(c.name, c.v, c.required); err != nil {
			return Wipe{}, fmt.Errorf("record wipe: %w", err)
		}
	}
	if len(m.Evidence) > maxEvidenceBytes {
		return Wipe{}, fmt.Errorf("record wipe: %w", ErrInvalid.Errorf("evidence is %d bytes, at most %d", len(m.Evidence), maxEvidenceBytes))
	}
	m.PerformedBy, m.VerifiedBy = strings.TrimSpace(m.PerformedBy), strings.TrimSpace(m.VerifiedBy)
	recorder := access.ActorFrom(ctx)
	recorder.ID, recorder.Name = actor.ID, actor.Name
	return r.change(ctx, "record wipe", id, func(tx *Tx, w *Wipe) error {
		if _, err := w.next(offboard.ManualRecord); err != nil {
			return err
		}
		relaxed, err := checkManualRecord(manualRecordCheck{Record: m, StarterID: w.CreatedByID, Starter: w.CreatedBy,
			Recorder: recorder, SinglePerson: r.singlePerson.Load()})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(m.Evidence)
		digest := hex.EncodeToString(sum[:])
		note := singlePersonNote(relaxed)
		detail := fmt.Sprintf("recorded by hand: %s with %s, performed by %s, verified by %s; evidence sha256 %s", m.Method, m.Tool, m.PerformedBy, m.VerifiedBy, digest)
		if note != "" {
			detail += "; " + note
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET single_person = $1 WHERE id = $2`, note, w.ID); err != nil {
			return fmt.Errorf("store single-person note: %w", err)
		}
		if err := r.completeWipe(ctx, tx, w, completion{event: offboard.ManualRecord, method: m.Method, tool: m.Tool, toolVersion: m.ToolVersion,
			performedBy: m.PerformedBy, verifiedBy: m.VerifiedBy, evidence: m.Evidence, evidenceName: orDefault(m.EvidenceName, "evidence")}, actor, detail, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "wipe.recorded", "wipe:"+w.ID, map[string]any{"evidence_sha256": digest, "evidence_name": orDefault(m.EvidenceName, "evidence"),
			"performed_by": m.PerformedBy, "verified_by": m.VerifiedBy, "method": m.Method, "tool": m.Tool, "started_by": w.CreatedBy, "single_person": note})
	})
}

// WipeEvidence returns a wipe's raw evidence and its file name (nil when
// none was recorded).
func (r *Registry) WipeEvidence(ctx context.Context, id string) ([]byte, string, error) {
	var ev []byte
	var name string
	err := r.db.QueryRowContext(ctx, `SELECT evidence, evidence_name FROM wipe_requests WHERE id = $1`, id).Scan(&ev, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrNotFound.Errorf("no wipe request %s", id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read evidence: %w", err)
	}
	return ev, name, nil
}
