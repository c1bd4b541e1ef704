package registry

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Register history kinds. Flag kinds are "device." + the flag
// (device.unregistered, device.missing, device.not_in_service,
// device.identity_conflict) when it is set or its severity changes, and
// device.flag_cleared (subject: the flag) when its cause goes away.
const (
	KindAssetCreated       = "asset.created"
	KindAssetUpdated       = "asset.updated"
	KindAssetStatusChanged = "asset.status_changed"
	KindAssetLinked        = "asset.linked"
	KindAssetUnlinked      = "asset.unlinked"
	KindFlagCleared        = "device.flag_cleared"
)

// RegisterKinds lists every register history kind.
func RegisterKinds() []string {
	out := []string{KindAssetCreated, KindAssetUpdated, KindAssetStatusChanged, KindAssetLinked, KindAssetUnlinked, KindFlagCleared}
	for _, f := range Flags() {
		out = append(out, "device."+f)
	}
	return out
}

// RegisterEntry is one register history entry (API keys). Subject is the
// field for asset.updated and asset.status_changed, how the link was made
// for asset.linked and asset.unlinked, the severity for a flag being set
// and the flag for device.flag_cleared; Old and New are the values (the
// flag's detail for flags, the device id for links).
type RegisterEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	AssetID   string    `json:"asset_id"`
	AssetTag  string    `json:"asset_tag"`
	DeviceID  string    `json:"device_id"`
	Subject   string    `json:"subject"`
	Old       string    `json:"old"`
	New       string    `json:"new"`
	ActorID   string    `json:"actor_id"`
	ActorName string    `json:"actor_name"`
}

// historyWriter records register history in a transaction.
type historyWriter struct {
	ctx   context.Context
	stmt  *Stmt
	actor Actor
	at    string
}

func newHistoryWriter(ctx context.Context, tx *Tx, actor Actor, now time.Time) (*historyWriter, error) {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO register_history (at, kind, asset_id, asset_tag, device_id, subject, old, new, actor_id, actor_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
	if err != nil {
		return nil, fmt.Errorf("record register history: %w", err)
	}
	return &historyWriter{ctx: ctx, stmt: stmt, actor: actor, at: fmtTime(now)}, nil
}

func (h *historyWriter) add(kind, assetID, tag, device, subject, old, new string) error {
	if _, err := h.stmt.ExecContext(h.ctx, h.at, kind, assetID, tag, device, subject, old, new, h.actor.ID, h.actor.Name); err != nil {
		return fmt.Errorf("record register history: %w", err)
	}
	return nil
}

func (h *historyWriter) close() { h.stmt.Close() }

// RegisterFilter selects register history; zero fields do not filter.
type RegisterFilter struct {
	// AssetTag and Device (a device reference) narrow to one of each.
	AssetTag string
	Device   string
	Kind     string
	Since    *time.Time
	Until    *time.Time
}

// RegisterHistory returns a page of register history in the order it was
// recorded. Since is inclusive, Until exclusive.
func (r *Registry) RegisterHistory(ctx context.Context, f RegisterFilter, p Page) ([]RegisterEntry, string, error) {
	after, err := decodeIntCursor("r", p.Cursor)
	if err != nil {
		return nil, "", err
	}
	var q query
	if f.AssetTag != "" {
		var id string
		if err := r.db.QueryRowContext(ctx, `SELECT id FROM assets WHERE tag_key = $1`, tagKey(f.AssetTag)).Scan(&id); err != nil {
			if err == sql.ErrNoRows {
				return nil, "", ErrNotFound.Errorf("no asset %q", f.AssetTag)
			}
			return nil, "", fmt.Errorf("read register history: %w", err)
		}
		q.add("asset_id = ?", id)
	}
	if f.Device != "" {
		id, err := r.resolve(ctx, r.db, f.Device)
		if err != nil {
			return nil, "", err
		}
		q.add("device_id = ?", id)
	}
	if f.Kind != "" {
		if !slices.Contains(RegisterKinds(), f.Kind) {
			return nil, "", ErrInvalid.Errorf("unknown register history kind %q", f.Kind)
		}
		q.add("kind = ?", f.Kind)
	}
	if f.Since != nil {
		q.add("at >= ?", fmtTime(*f.Since))
	}
	if f.Until != nil {
		q.add("at < ?", fmtTime(*f.Until))
	}
	q.add("id > ?", after)
	limit := p.limit()
	rows, err := r.db.QueryContext(ctx, `SELECT id, at, kind, asset_id, asset_tag, device_id, subject, old, new, actor_id, actor_name FROM register_history`+
		q.sql()+" ORDER BY id"+q.limitArg(limit+1), q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("read register history: %w", err)
	}
	defer rows.Close()
	out := []RegisterEntry{}
	for rows.Next() {
		var e RegisterEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.AssetID, &e.AssetTag, &e.DeviceID, &e.Subject, &e.Old, &e.New, &e.ActorID, &e.ActorName); err != nil {
			return nil, "", fmt.Errorf("read register history: %w", err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read register history: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor("r", strconv.FormatInt(out[limit-1].ID, 10))
	}
	return out, next, nil
}
