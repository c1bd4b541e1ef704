package registry

// Linking devices to assets. Which device an asset is linked to is
// decided by register.MatchLinks (serial, then UUID, then MAC; manual
// links always win) over a scope: every device and asset
// (after an import and on the periodic refresh), or the few a report or a
// single change can touch (loadScope). settle then writes the link and
// flag changes of the scope in the caller's transaction.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/register"
)

// How a link was made (register.MatchLinks decides).
const (
	LinkSerial = register.LinkSerial
	LinkUUID   = register.LinkUUID
	LinkMAC    = register.LinkMAC
	LinkManual = register.LinkManual
)

// scope is a set of devices and assets with their current links and flags.
type scope struct {
	register.Scope
	flags map[register.FlagKey]register.FlagValue
	// What settle re-evaluates besides both ends of the links it changes
	// (linkeval.go): devices whose link a caller changed before settle,
	// and assets whose fields compliance reads changed (by asset id). A
	// report's device is evaluatedLater, from the report's facts.
	reevalDevs, reevalAssets map[string]bool
	evaluatedLater           string
}

func newScope() *scope {
	return &scope{Scope: register.NewScope(), flags: map[register.FlagKey]register.FlagValue{},
		reevalDevs: map[string]bool{}, reevalAssets: map[string]bool{}}
}

const devKeyCols = `id, hostname, system_serial, system_uuid, macs, flags, state, last_seen`
const assetKeyCols = `id, asset_tag, serial, serial_uuid, serial_mac, status, owner, owner_email, location`

func (s *scope) readDevs(ctx context.Context, q querier, where string, args ...any) error {
	rows, err := q.QueryContext(ctx, `SELECT `+devKeyCols+` FROM devices `+where, args...)
	if err != nil {
		return fmt.Errorf("read devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d := &register.Device{}
		var state string
		if err := rows.Scan(&d.ID, &d.Hostname, &d.Serial, &d.UUID, &d.MACs, &d.Flags, &state, &d.LastSeen); err != nil {
			return fmt.Errorf("read devices: %w", err)
		}
		d.Revoked = state == StateRevoked
		s.Devices[d.ID] = d
	}
	return rows.Err()
}

func (s *scope) readAssets(ctx context.Context, q querier, where string, args ...any) error {
	rows, err := q.QueryContext(ctx, `SELECT `+assetKeyCols+` FROM assets `+where, args...)
	if err != nil {
		return fmt.Errorf("read assets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a := &register.Asset{}
		if err := rows.Scan(&a.ID, &a.Tag, &a.Serial, &a.SerialUUID, &a.SerialMAC, &a.Status, &a.Owner, &a.OwnerEmail, &a.Location); err != nil {
			return fmt.Errorf("read assets: %w", err)
		}
		s.Assets[a.ID] = a
	}
	return rows.Err()
}

func (s *scope) readLinks(ctx context.Context, q querier, where string, args ...any) ([]register.Link, error) {
	rows, err := q.QueryContext(ctx, `SELECT asset_id, device_id, how, linked_at FROM asset_links `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	defer rows.Close()
	var out []register.Link
	for rows.Next() {
		var l register.Link
		if err := rows.Scan(&l.AssetID, &l.DeviceID, &l.How, &l.LinkedAt); err != nil {
			return nil, fmt.Errorf("read links: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// loadAll reads every device, asset, link and flag.
func (r *Registry) loadAll(ctx context.Context, q querier) (*scope, error) {
	s := newScope()
	if err := s.readDevs(ctx, q, ""); err != nil {
		return nil, err
	}
	if err := s.readAssets(ctx, q, ""); err != nil {
		return nil, err
	}
	ls, err := s.readLinks(ctx, q, "")
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		s.Links[l.AssetID] = l
	}
	if err := s.readExpiredWipes(ctx, q); err != nil {
		return nil, err
	}
	return s, s.readFlags(ctx, q, "", nil)
}

// loadScope reads the given devices and assets, the assets each device
// could match and the devices each asset could match, the links any of
// them take part in with the other side of each, and their flags: all a
// change to those devices or assets can affect.
func (r *Registry) loadScope(ctx context.Context, q querier, deviceIDs, assetIDs []string) (*scope, error) {
	s := newScope()
	for _, id := range deviceIDs {
		if err := s.readDevs(ctx, q, `WHERE id = $1`, id); err != nil {
			return nil, err
		}
	}
	for _, id := range assetIDs {
		if err := s.readAssets(ctx, q, `WHERE id = $1`, id); err != nil {
			return nil, err
		}
	}
	// The other side of their links, whose matching a change frees up.
	if err := s.readLinkedSides(ctx, q); err != nil {
		return nil, err
	}
	for _, d := range slices.Collect(mapValues(s.Devices)) {
		if d.Serial != "" {
			if err := s.readAssets(ctx, q, `WHERE serial = $1`, d.Serial); err != nil {
				return nil, err
			}
		}
		if d.UUID != "" {
			if err := s.readAssets(ctx, q, `WHERE serial_uuid = $1 OR serial_uuid = $2`, d.UUID, register.SwapUUID(d.UUID)); err != nil {
				return nil, err
			}
		}
		for _, m := range splitList(d.MACs) {
			if err := s.readAssets(ctx, q, `WHERE serial_mac = $1`, m); err != nil {
				return nil, err
			}
		}
	}
	for _, a := range slices.Collect(mapValues(s.Assets)) {
		if a.Serial != "" {
			if err := s.readDevs(ctx, q, `WHERE system_serial = $1`, a.Serial); err != nil {
				return nil, err
			}
		}
		if a.SerialUUID != "" {
			if err := s.readDevs(ctx, q, `WHERE system_uuid = $1 OR system_uuid = $2`, a.SerialUUID, register.SwapUUID(a.SerialUUID)); err != nil {
				return nil, err
			}
		}
		if a.SerialMAC != "" {
			// macs is a list joined by ','; the LIKE over-fetches and
			// register.MatchLinks compares whole addresses.
			if err := s.readDevs(ctx, q, `WHERE macs LIKE $1`, "%"+a.SerialMAC+"%"); err != nil {
				return nil, err
			}
		}
	}
	// Links touching any member, then the members they bring in.
	if err := s.readLinkedSides(ctx, q); err != nil {
		return nil, err
	}
	for id := range s.Devices {
		if err := s.readFlags(ctx, q, register.SubjectDevice, &id); err != nil {
			return nil, err
		}
	}
	for id := range s.Assets {
		if err := s.readFlags(ctx, q, register.SubjectAsset, &id); err != nil {
			return nil, err
		}
	}
	if err := s.readExpiredWipes(ctx, q); err != nil {
		return nil, err
	}
	return s, nil
}

// readLinkedSides reads the links of every member and the members at
// their other ends.
func (s *scope) readLinkedSides(ctx context.Context, q querier) error {
	for _, a := range slices.Collect(mapValues(s.Assets)) {
		ls, err := s.readLinks(ctx, q, `WHERE asset_id = $1`, a.ID)
		if err != nil {
			return err
		}
		for _, l := range ls {
			s.Links[l.AssetID] = l
			if _, ok := s.Devices[l.DeviceID]; !ok {
				if err := s.readDevs(ctx, q, `WHERE id = $1`, l.DeviceID); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range slices.Collect(mapValues(s.Devices)) {
		ls, err := s.readLinks(ctx, q, `WHERE device_id = $1`, d.ID)
		if err != nil {
			return err
		}
		for _, l := range ls {
			s.Links[l.AssetID] = l
			if _, ok := s.Assets[l.AssetID]; !ok {
				if err := s.readAssets(ctx, q, `WHERE id = $1`, l.AssetID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// Changes counts what settle or RefreshFlags changed.
type Changes struct {
	LinksChanged int `json:"links_changed"`
	FlagsSet     int `json:"flags_set"`
	FlagsCleared int `json:"flags_cleared"`
}

// settle re-links the scope, then recomputes its flags, writing only what
// changed and recording each change in register_history, and re-evaluates
// the compliance of the devices whose link or linked asset changed.
func (r *Registry) settle(ctx context.Context, tx *Tx, s *scope, actor Actor, now time.Time) (Changes, error) {
	var ch Changes
	h, err := newHistoryWriter(ctx, tx, actor, now)
	if err != nil {
		return ch, err
	}
	defer h.close()
	want := register.MatchLinks(s.Scope)
	ts := fmtTime(now)
	var gone, added []register.Link
	for a, cur := range s.Links {
		if w, ok := want[a]; !ok || w.DeviceID != cur.DeviceID || w.How != cur.How {
			gone = append(gone, cur)
		}
	}
	for a, w := range want {
		if cur, ok := s.Links[a]; !ok || w.DeviceID != cur.DeviceID || w.How != cur.How {
			w.LinkedAt = ts
			want[a] = w
			added = append(added, w)
		}
	}
	slices.SortFunc(gone, func(x, y register.Link) int { return strings.Compare(x.AssetID, y.AssetID) })
	slices.SortFunc(added, func(x, y register.Link) int { return strings.Compare(x.AssetID, y.AssetID) })
	for _, l := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM asset_links WHERE asset_id = $1`, l.AssetID); err != nil {
			return ch, fmt.Errorf("unlink asset: %w", err)
		}
		if err := h.add(KindAssetUnlinked, l.AssetID, s.Assets[l.AssetID].Tag, l.DeviceID, l.How, l.DeviceID, ""); err != nil {
			return ch, err
		}
	}
	for _, l := range added {
		if _, err := tx.ExecContext(ctx, `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, $3, $4)`, l.AssetID, l.DeviceID, l.How, l.LinkedAt); err != nil {
			return ch, fmt.Errorf("link asset: %w", err)
		}
		if err := h.add(KindAssetLinked, l.AssetID, s.Assets[l.AssetID].Tag, l.DeviceID, l.How, "", l.DeviceID); err != nil {
			return ch, err
		}
	}
	ch.LinksChanged = len(gone) + len(added)
	s.Links = want
	set, cleared, err := r.syncFlags(ctx, tx, h, s, now)
	ch.FlagsSet, ch.FlagsCleared = set, cleared
	if err != nil {
		return ch, err
	}
	return ch, r.evaluateLinked(ctx, tx, s.toEvaluate(gone, added), now)
}

// relinkDevice re-links and re-flags one device inside tx.
func (r *Registry) relinkDevice(ctx context.Context, tx *Tx, device string, now time.Time) error {
	return r.relink(ctx, tx, device, "", now)
}

// relinkReporter is relinkDevice in the transaction of the device's
// report, whose compliance the report evaluates next from its new facts
// (complianceAfterReport): settle evaluates only the other devices whose
// link changed.
func (r *Registry) relinkReporter(ctx context.Context, tx *Tx, device string, now time.Time) error {
	return r.relink(ctx, tx, device, device, now)
}

func (r *Registry) relink(ctx context.Context, tx *Tx, device, evaluatedLater string, now time.Time) error {
	s, err := r.loadScope(ctx, tx, []string{device}, nil)
	if err != nil {
		return fmt.Errorf("link device: %w", err)
	}
	s.evaluatedLater = evaluatedLater
	if _, err := r.settle(ctx, tx, s, actorCollector, now); err != nil {
		return fmt.Errorf("link device: %w", err)
	}
	return nil
}

// dropLink deletes the asset's link and records it.
func dropLink(ctx context.Context, tx *Tx, h *historyWriter, s *scope, assetID string) error {
	l, ok := s.Links[assetID]
	if !ok {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM asset_links WHERE asset_id = $1`, assetID); err != nil {
		return fmt.Errorf("unlink asset: %w", err)
	}
	delete(s.Links, assetID)
	s.reevalDevs[l.DeviceID] = true
	return h.add(KindAssetUnlinked, assetID, s.Assets[assetID].Tag, l.DeviceID, l.How, l.DeviceID, "")
}

func assetIDByTag(ctx context.Context, tx *Tx, tag string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM assets WHERE tag_key = $1`, tagKey(tag)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound.Errorf("no asset %q", tag)
	}
	return id, err
}

// LinkAsset links the asset tagged tag to the device ref names (id,
// serial, hostname or another asset's tag) by hand, replacing any link
// either has. The link stays until UnlinkAsset, whatever the device later
// reports.
func (r *Registry) LinkAsset(ctx context.Context, tag, deviceRef string, actor Actor, now time.Time) (Asset, error) {
	now = now.UTC()
	var assetID string
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		if assetID, err = assetIDByTag(ctx, tx, tag); err != nil {
			return err
		}
		dev, err := r.resolve(ctx, tx, deviceRef)
		if err != nil {
			return err
		}
		s, err := r.loadScope(ctx, tx, []string{dev}, []string{assetID})
		if err != nil {
			return err
		}
		if l, ok := s.Links[assetID]; ok && l.DeviceID == dev && l.How == LinkManual {
			return nil
		}
		h, err := newHistoryWriter(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		defer h.close()
		for a, l := range s.Links {
			if a == assetID || l.DeviceID == dev {
				if err := dropLink(ctx, tx, h, s, a); err != nil {
					return err
				}
			}
		}
		l := register.Link{AssetID: assetID, DeviceID: dev, How: LinkManual, LinkedAt: fmtTime(now)}
		if _, err := tx.ExecContext(ctx, `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, $3, $4)`, l.AssetID, l.DeviceID, l.How, l.LinkedAt); err != nil {
			return fmt.Errorf("link asset: %w", err)
		}
		s.Links[assetID] = l
		s.reevalDevs[dev] = true
		if err := h.add(KindAssetLinked, assetID, s.Assets[assetID].Tag, dev, LinkManual, "", dev); err != nil {
			return err
		}
		if _, err = r.settle(ctx, tx, s, actor, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "asset.linked", "asset:"+s.Assets[assetID].Tag, map[string]string{"device_id": dev, "how": LinkManual})
	})
	if err != nil {
		return Asset{}, fmt.Errorf("link asset %s: %w", tag, err)
	}
	return r.assetBy(ctx, r.db, "a.id = $1", assetID)
}

// UnlinkAsset removes the asset's link, manual or automatic, and returns
// the asset to automatic matching, which may link it again at once (the
// answer shows it): to override an automatic match, link the right device
// by hand instead.
func (r *Registry) UnlinkAsset(ctx context.Context, tag string, actor Actor, now time.Time) (Asset, error) {
	now = now.UTC()
	var assetID string
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		if assetID, err = assetIDByTag(ctx, tx, tag); err != nil {
			return err
		}
		s, err := r.loadScope(ctx, tx, nil, []string{assetID})
		if err != nil {
			return err
		}
		if _, ok := s.Links[assetID]; !ok {
			return ErrInvalid.Errorf("asset %s is not linked", tag)
		}
		h, err := newHistoryWriter(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		defer h.close()
		dev := s.Links[assetID].DeviceID
		if err := dropLink(ctx, tx, h, s, assetID); err != nil {
			return err
		}
		if _, err = r.settle(ctx, tx, s, actor, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "asset.unlinked", "asset:"+s.Assets[assetID].Tag, map[string]string{"device_id": dev})
	})
	if err != nil {
		return Asset{}, fmt.Errorf("unlink asset %s: %w", tag, err)
	}
	return r.assetBy(ctx, r.db, "a.id = $1", assetID)
}

// linkedDevice is the device linked to the asset tagged ref, "" when no
// such asset or it is linked to none.
func linkedDevice(ctx context.Context, q querier, ref string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT l.device_id FROM assets a JOIN asset_links l ON l.asset_id = a.id WHERE a.tag_key = $1`, tagKey(ref)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("resolve asset tag %q: %w", ref, err)
	}
	return id, nil
}
