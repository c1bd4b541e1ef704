package registry

import (
	"context"
	"testing"
)

// packedEventsMigration added events.packed (0023_packed_events.sql).
const packedEventsMigration = 23

// MigrateBeforePackedEvents applies the migrations before 0023, for a
// test that stores events as the code before it did.
func MigrateBeforePackedEvents(t *testing.T, r *Registry) { migrateUpTo(t, r, packedEventsMigration-1) }

// InsertEventBefore0023 stores an event with the statement the code
// before migration 0023 used: its payload as text.
func InsertEventBefore0023(ctx context.Context, r *Registry, e EventRecord) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO events (id, kind, at, device_id, asset_tag, subject, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ID, e.Kind, fmtTime(e.At), e.DeviceID, e.AssetTag, e.Subject, string(e.Data))
	return err
}

// PackedEvents counts the events whose payload is stored packed.
func PackedEvents(ctx context.Context, r *Registry) (int, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE packed IS NOT NULL AND data = ''`).Scan(&n)
	return n, err
}

// EventPacking packs an event payload as the registry stores it now and
// as it did before raw literals (snapCodec.pack, the snapshots' encoder),
// and unpacks a stored payload as Events reads it.
type EventPacking struct {
	c   snapCodec
	old klauspostPacker
}

func NewEventPacking() EventPacking { return EventPacking{newSnapCodec(), klauspostDict()} }

// Now is the payload as storedEventData stores it (nil: kept as text).
func (p EventPacking) Now(data []byte) []byte {
	_, packed := storedEventData(p.c, data)
	return packed
}

// Before is the payload packed as 0023 to this change stored it (the
// snapshots' encoder of the time).
func (p EventPacking) Before(data []byte) []byte { return p.old.EncodeAll(data, nil) }

// Unpack reads a packed payload back as eventData does.
func (p EventPacking) Unpack(packed []byte) ([]byte, error) {
	return eventData(p.c, "", packed)
}
