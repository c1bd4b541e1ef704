package registry

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// History kinds.
const (
	KindEnrolled           = "enrolled"
	KindReEnrolled         = "re_enrolled"
	KindIdentityConflict   = "identity_conflict"
	KindSoftwareAdded      = "software_added"
	KindSoftwareRemoved    = "software_removed"
	KindSoftwareChanged    = "software_changed"
	KindOSChanged          = "os_changed"
	KindKernelChanged      = "kernel_changed"
	KindEncryptionChanged  = "encryption_changed"
	KindHardwareChanged    = "hardware_changed"
	KindCertificateRevoked = "certificate_revoked"
	// KindMerged: an admin merged the record subject into new.
	KindMerged = "merged"
	// KindRecoveredAfterRestore: after a restore from a backup older than
	// the device's certificate, the certificate (subject: its serial) was
	// adopted on the device's first request (restore.go).
	KindRecoveredAfterRestore = "recovered_after_restore"
)

// HistoryKinds lists every kind, for validating filters.
func HistoryKinds() []string {
	return []string{KindEnrolled, KindReEnrolled, KindIdentityConflict, KindSoftwareAdded, KindSoftwareRemoved,
		KindSoftwareChanged, KindOSChanged, KindKernelChanged, KindEncryptionChanged, KindHardwareChanged, KindCertificateRevoked, KindMerged,
		KindRecoveredAfterRestore, KindWipeRequested, KindWipeCompleted, KindWipeFailed, KindWipeCancelled, KindWipeExpired, KindWipeVerified}
}

// HistoryEntry is one recorded change (API keys).
type HistoryEntry struct {
	ID       int64     `json:"id"`
	DeviceID string    `json:"device_id"`
	Hostname string    `json:"hostname"`
	At       time.Time `json:"at"`
	Seq      uint64    `json:"seq"`
	Kind     string    `json:"kind"`
	Subject  string    `json:"subject"`
	Old      string    `json:"old"`
	New      string    `json:"new"`
}

// deviceChange is one change to a device (from a report, an enrolment, a
// merge) about to be recorded in its history (the history table, read
// back as HistoryEntry). It is not an event: those are EventRecord (the
// events table, sent to webhooks as webhook.Event).
type deviceChange struct {
	Kind, Subject, Old, New string
}

func insertHistory(ctx context.Context, tx *Tx, device string, at time.Time, seq uint64, evs []deviceChange) error {
	ts := fmtTime(at)
	// A day's upgrades are hundreds of entries: a statement per chunk
	// (catbatch.go), not per entry, which on PostgreSQL is a round trip
	// inside the store's write lock.
	for _, n := range chunks(len(evs)) {
		var b strings.Builder
		b.WriteString(`INSERT INTO history (device_id, at, seq, kind, subject, old, new) VALUES `)
		valuesList(&b, n, 7, 1)
		args := make([]any, 0, n*7)
		for _, e := range evs[:n] {
			args = append(args, device, ts, int64(seq), e.Kind, e.Subject, e.Old, e.New)
		}
		evs = evs[n:]
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("record history: %w", err)
		}
	}
	return nil
}

// HistoryFilter selects history entries; zero fields do not filter.
// Device, Since, Until and Kind select History's change entries;
// DeviceID, PolicyID, From and To select compliance transitions and
// states (compliancehistory.go), one filter type for both histories.
type HistoryFilter struct {
	// Device is a device reference (id, serial or hostname).
	Device string
	Since  *time.Time
	Until  *time.Time
	Kind   string

	// DeviceID is a resolved device id.
	DeviceID string
	PolicyID string
	// From and To bound transitions to From <= At < To.
	From, To time.Time
}

// History returns a page of changes in the order they were recorded. Since
// is inclusive, Until exclusive.
func (r *Registry) History(ctx context.Context, f HistoryFilter, p Page) ([]HistoryEntry, string, error) {
	after, err := decodeIntCursor("h", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.Device != "" {
		id, err := r.resolve(ctx, r.db, f.Device)
		if err != nil {
			return nil, "", err
		}
		q.add("h.device_id = ?", id)
	}
	if f.Since != nil {
		q.add("h.at >= ?", fmtTime(*f.Since))
	}
	if f.Until != nil {
		q.add("h.at < ?", fmtTime(*f.Until))
	}
	if f.Kind != "" {
		if !slices.Contains(HistoryKinds(), f.Kind) {
			return nil, "", ErrInvalid.Errorf("unknown history kind %q", f.Kind)
		}
		q.add("h.kind = ?", f.Kind)
	}
	q.add("h.id > ?", after)
	limit := p.limit()
	stmt := `SELECT ` + historyCols + ` FROM history h JOIN devices d ON d.id = h.device_id` +
		q.sql() + " ORDER BY h.id" + q.limitArg(limit+1)
	rows, err := r.db.QueryContext(ctx, stmt, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	out, err := scanHistory(rows)
	if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("h", strconv.FormatInt(out[limit-1].ID, 10))
	}
	return out, next, nil
}

// historyCols are the columns scanHistory reads, in order; h is history,
// d the device row joined for its hostname.
const historyCols = `h.id, h.device_id, d.hostname, h.at, h.seq, h.kind, h.subject, h.old, h.new`

// scanHistory reads every row of a query selecting historyCols.
func scanHistory(rows *sql.Rows) ([]HistoryEntry, error) {
	out := []HistoryEntry{}
	for rows.Next() {
		var h HistoryEntry
		var at string
		var seq int64
		if err := rows.Scan(&h.ID, &h.DeviceID, &h.Hostname, &at, &seq, &h.Kind, &h.Subject, &h.Old, &h.New); err != nil {
			return nil, err
		}
		h.At, h.Seq = parseTime(at), uint64(seq)
		out = append(out, h)
	}
	return out, rows.Err()
}
