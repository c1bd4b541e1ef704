package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/shared/wire"
)

// Event kinds besides webhook's: the register's other device flags pass
// through under their register history kind.
const (
	KindDeviceNotInService     = "device.not_in_service"
	KindDeviceIdentityConflict = "device.identity_conflict"
)

// EventKinds lists every event kind, for validating filters.
func EventKinds() []string {
	return []string{webhook.KindComplianceChanged, webhook.KindComplianceFleetChanged, webhook.KindEncryptionDisabled, webhook.KindSoftwareInstalled,
		webhook.KindSoftwareRemoved, webhook.KindSoftwareBanned, webhook.KindOSUpgraded, webhook.KindDeviceUnregistered,
		webhook.KindDeviceMissing, KindDeviceNotInService, KindDeviceIdentityConflict, webhook.KindDeviceFlagCleared,
		"wipe." + WipeRequested, "wipe." + WipeDelivered, "wipe." + WipeInProgress, "wipe." + WipeCompleted,
		"wipe." + WipeFailed, "wipe." + WipeVerified, "wipe." + WipeCancelled, "wipe." + WipeExpired}
}

// EventRecord is a stored event (API keys); the webhook body carries the
// same keys except n.
type EventRecord struct {
	N        int64           `json:"n"`
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	At       time.Time       `json:"at"`
	DeviceID string          `json:"device_id"`
	AssetTag string          `json:"asset_tag"`
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
}

// emit stores events and, for each, one delivery per configured endpoint
// whose filters match, in the caller's transaction: an event and its
// deliveries commit or roll back together. It returns how many deliveries
// it queued; when there are any, the webhook worker is woken after the
// transaction commits (ComplianceOptions.OnEvents, through Tx.AfterCommit),
// so it finds the new rows and never wakes for rolled-back ones.
func (r *Registry) emit(ctx context.Context, tx *Tx, st *complianceState, evs []webhook.Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (id, kind, at, device_id, asset_tag, subject, data, packed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING n`)
	if err != nil {
		return 0, fmt.Errorf("record events: %w", err)
	}
	defer ins.Close()
	var del *Stmt
	queued := 0
	for _, ev := range evs {
		if ev.ID == "" {
			// Time-ordered (v7), so a fleet evaluation's thousands of
			// events append to the id index instead of scattering.
			id, err := uuid.NewV7()
			if err != nil {
				return 0, fmt.Errorf("record event: %w", err)
			}
			ev.ID = id.String()
		}
		data := ev.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		text, packed := storedEventData(r.snaps.codec, data)
		at := fmtTime(ev.At)
		var n int64
		if err := ins.QueryRowContext(ctx, ev.ID, ev.Kind, at, ev.DeviceID, ev.AssetTag, ev.Subject, text, packed).Scan(&n); err != nil {
			return 0, fmt.Errorf("record event: %w", err)
		}
		for _, ep := range st.endpoints {
			if !ep.Enabled || !webhook.Match(ep.Events, ev.Kind) {
				continue
			}
			if del == nil {
				if del, err = tx.PrepareContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_n, next_attempt_at) VALUES ($1, $2, $3, $4)`); err != nil {
					return 0, fmt.Errorf("queue webhook delivery: %w", err)
				}
				defer del.Close()
			}
			did, err := uuid.NewV7()
			if err != nil {
				return 0, fmt.Errorf("queue webhook delivery: %w", err)
			}
			if _, err := del.ExecContext(ctx, did.String(), ep.ID, n, at); err != nil {
				return 0, fmt.Errorf("queue webhook delivery: %w", err)
			}
			queued++
		}
	}
	if queued > 0 {
		tx.AfterCommit(st.onEvents)
	}
	return queued, nil
}

// minPackedEvent is the shortest payload worth packing: zstd's frame
// (magic number, header, dictionary id, checksum) takes about 14 bytes.
const minPackedEvent = 32

// storedEventData is how an event's payload is stored: packed with the
// snapshots' dictionary (snapCodec.events) when that is smaller, its text
// then empty; else as text, packed nil. A compliance.changed payload of
// six policies (~800 bytes) packs to ~350, a software event's (~75 bytes,
// its JSON keys in the dictionary) to ~58. eventData gives back the same
// bytes.
func storedEventData(c snapCodec, data []byte) (string, []byte) {
	if len(data) >= minPackedEvent {
		if p := c.events.EncodeAll(data, nil); len(p) < len(data) {
			return "", p
		}
	}
	return string(data), nil
}

// eventData is a stored event's payload, byte for byte as it was given
// to emit: packed when the row has it, else the text (every row stored
// before migration 0023, and small payloads since).
func eventData(c snapCodec, text string, packed []byte) (json.RawMessage, error) {
	if packed == nil {
		return json.RawMessage(text), nil
	}
	b, err := c.dec.DecodeAll(packed, nil)
	if err != nil {
		return nil, fmt.Errorf("unpack event payload: %w", err)
	}
	return b, nil
}

// driftEvents compares a device's previous facts with its new ones:
// encryption turned off on a volume, an OS upgrade.
func driftEvents(d *evalDevice, old, cur *compliance.Facts, now time.Time) []webhook.Event {
	var evs []webhook.Event
	if old.Encryption != nil && cur.Encryption != nil {
		prev := map[string]compliance.VolumeFacts{}
		for _, v := range old.Encryption.Volumes {
			prev[v.Mount] = v
		}
		seen := map[string]bool{}
		check := func(o, n compliance.VolumeFacts) {
			if protected(o) && (n.Encrypted == wire.No || unprotectedStatus(n.Status)) {
				name := n.Mount
				if n.Device != "" {
					name += " (" + n.Device + ")"
				}
				evs = append(evs, newEvent(webhook.KindEncryptionDisabled, d, "encryption turned off on "+name,
					map[string]any{"mount": n.Mount, "device": n.Device, "system": n.System,
						"old": map[string]any{"encrypted": o.Encrypted, "status": o.Status, "scheme": o.Scheme},
						"new": map[string]any{"encrypted": n.Encrypted, "status": n.Status, "scheme": n.Scheme}}, now))
			}
		}
		for _, v := range cur.Encryption.Volumes {
			if o, ok := prev[v.Mount]; ok {
				seen[v.Mount] = true
				check(o, v)
			}
		}
		// The system summary speaks for agents that list no volumes.
		if s := cur.Encryption.System; !seen[s.Mount] {
			check(old.Encryption.System, s)
		}
	}
	ov, nv := old.OS, cur.OS
	if nv.Version != "" && ov.Version != "" {
		up := compliance.CompareVersions(nv.Version, ov.Version)
		if up == 0 && nv.Build != "" && ov.Build != "" {
			up = compliance.CompareVersions(nv.Build, ov.Build)
		}
		if up > 0 {
			evs = append(evs, newEvent(webhook.KindOSUpgraded, d, fmt.Sprintf("%s upgraded from %s to %s", osName(nv), osVersion(ov), osVersion(nv)),
				map[string]any{"os": nv.ID, "name": nv.Name, "old_version": ov.Version, "new_version": nv.Version, "old_build": ov.Build, "new_build": nv.Build}, now))
		}
	}
	return evs
}

func osName(o compliance.OSFacts) string {
	if o.Name != "" {
		return o.Name
	}
	return o.ID
}

func osVersion(o compliance.OSFacts) string {
	if o.Build != "" {
		return o.Version + " (" + o.Build + ")"
	}
	return o.Version
}

func unprotectedStatus(s string) bool {
	return s == "off" || s == "decrypting" || s == "suspended"
}

func protected(v compliance.VolumeFacts) bool {
	return v.Encrypted == wire.Yes && !unprotectedStatus(v.Status)
}

// softwareEvents turns a report's package history into events; version
// changes stay in the history only (an upgrade is not drift).
func softwareEvents(d *evalDevice, hist []deviceChange, now time.Time) []webhook.Event {
	var evs []webhook.Event
	for _, h := range hist {
		var kind, version, verb string
		switch h.Kind {
		case KindSoftwareAdded:
			kind, version, verb = webhook.KindSoftwareInstalled, h.New, "installed"
		case KindSoftwareRemoved:
			kind, version, verb = webhook.KindSoftwareRemoved, h.Old, "removed"
		default:
			continue
		}
		parts := strings.SplitN(h.Subject, ":", 3)
		data := map[string]any{"source": parts[0], "name": "", "arch": "", "version": version}
		if len(parts) > 1 {
			data["name"] = parts[1]
		}
		if len(parts) > 2 {
			data["arch"] = parts[2]
		}
		evs = append(evs, newEvent(kind, d, fmt.Sprintf("%s %s %s", data["name"], version, verb), data, now))
	}
	return evs
}

const registerCursor = "register_history"

// registerEvents turns new register history flag entries (set by the
// asset register's reconciliation) into events, in the caller's
// transaction, and moves the cursor past them, so each entry becomes one
// event exactly once.
func (r *Registry) registerEvents(ctx context.Context, tx *Tx, st *complianceState) (int, error) {
	var after int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM event_cursors WHERE name = $1`, registerCursor).Scan(&after)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read register cursor: %w", err)
	}
	return r.registerEventsAfter(ctx, tx, st, after)
}

// registerEventsAfter is registerEvents with the cursor read in tx (after).
func (r *Registry) registerEventsAfter(ctx context.Context, tx *Tx, st *complianceState, after int64) (int, error) {
	// Every entry after the cursor is read and the cursor moves past the
	// last of them, whatever its kind: one of another kind left last
	// would have every report read it again (reportComplianceInputs
	// compares the cursor with the newest entry).
	rows, err := tx.QueryContext(ctx, `SELECT id, at, kind, asset_tag, device_id, subject, old, new FROM register_history
		WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return 0, fmt.Errorf("read register history: %w", err)
	}
	var evs []webhook.Event
	last := after
	for rows.Next() {
		var id int64
		var at, kind, tag, dev, subject, old, cur string
		if err := rows.Scan(&id, &at, &kind, &tag, &dev, &subject, &old, &cur); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read register history: %w", err)
		}
		last = id
		if !strings.HasPrefix(kind, "device.") || !slices.Contains(EventKinds(), kind) {
			continue
		}
		var text string
		data := map[string]any{"register_entry": id}
		if kind == webhook.KindDeviceFlagCleared {
			text = "flag " + subject + " cleared"
			data["flag"] = subject
		} else {
			flag := strings.TrimPrefix(kind, "device.")
			text = flag
			if cur != "" {
				text += ": " + cur
			}
			data["flag"], data["severity"], data["detail"] = flag, subject, cur
		}
		b, _ := json.Marshal(data)
		evs = append(evs, webhook.Event{Kind: kind, At: parseTime(at), DeviceID: dev, AssetTag: tag, Subject: text, Data: b})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read register history: %w", err)
	}
	if last == after {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_cursors (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		registerCursor, last); err != nil {
		return 0, fmt.Errorf("store register cursor: %w", err)
	}
	return r.emit(ctx, tx, st, evs)
}

// ProcessRegisterEvents turns register history recorded since the last
// call into events (and their webhook deliveries). Reports and fleet
// evaluations do it too; this is for callers that changed the register
// and want the events out now.
func (r *Registry) ProcessRegisterEvents(ctx context.Context) (int, error) {
	st := r.compState()
	var n int
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		n, err = r.registerEvents(ctx, tx, st)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("register events: %w", err)
	}
	return n, nil
}

// EventFilter selects events; zero fields do not filter.
type EventFilter struct {
	Since *time.Time
	Until *time.Time
	// Kind is an exact kind or a glob such as "device.*".
	Kind string
	// Device is a device reference (id, serial or hostname).
	Device string
}

// Events returns a page of events in the order they were recorded. Since
// is inclusive, Until exclusive.
func (r *Registry) Events(ctx context.Context, f EventFilter, p Page) ([]EventRecord, string, error) {
	after, err := decodeIntCursor("e", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.Device != "" {
		id, err := r.resolve(ctx, r.db, f.Device)
		if err != nil {
			return nil, "", err
		}
		q.add("device_id = ?", id)
	}
	if f.Since != nil {
		q.add("at >= ?", fmtTime(*f.Since))
	}
	if f.Until != nil {
		q.add("at < ?", fmtTime(*f.Until))
	}
	if f.Kind != "" {
		if !slices.ContainsFunc(EventKinds(), func(k string) bool { return webhook.Match([]string{f.Kind}, k) }) {
			return nil, "", ErrInvalid.Errorf("kind %q matches no event kind (%s)", f.Kind, strings.Join(EventKinds(), ", "))
		}
		if strings.ContainsAny(f.Kind, "*?[") {
			q.add(r.dia.glob("kind", "?", f.Kind))
		} else {
			q.add("kind = ?", f.Kind)
		}
	}
	q.add("n > ?", after)
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT n, id, kind, at, device_id, asset_tag, subject, data, packed FROM events`+q.sql()+" ORDER BY n"+q.limitArg(limit+1), q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	out := []EventRecord{}
	for rows.Next() {
		var e EventRecord
		var at, data string
		var packed []byte
		if err := rows.Scan(&e.N, &e.ID, &e.Kind, &at, &e.DeviceID, &e.AssetTag, &e.Subject, &data, &packed); err != nil {
			return nil, "", fmt.Errorf("read events: %w", err)
		}
		e.At = parseTime(at)
		if e.Data, err = eventData(r.snaps.codec, data, packed); err != nil {
			return nil, "", fmt.Errorf("read event %d: %w", e.N, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read events: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("e", strconv.FormatInt(out[limit-1].N, 10))
	}
	return out, next, nil
}

// RecentChanges returns a device's newest history entries, newest first.
func (r *Registry) RecentChanges(ctx context.Context, ref string, n int) ([]HistoryEntry, error) {
	id, err := r.resolve(ctx, r.db, ref)
	if err != nil {
		return nil, err
	}
	rows, err := r.db.QueryContext(ctx, `SELECT `+historyCols+`
		FROM history h JOIN devices d ON d.id = h.device_id WHERE h.device_id = $1 ORDER BY h.id DESC LIMIT $2`, id, n)
	if err != nil {
		return nil, fmt.Errorf("read recent changes: %w", err)
	}
	defer rows.Close()
	out, err := scanHistory(rows)
	if err != nil {
		return nil, fmt.Errorf("read recent changes: %w", err)
	}
	return out, nil
}
