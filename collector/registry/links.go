package registry

// Linking devices to assets. A register serial is compared with what
// agents report in a fixed order: the normalised system serial, then the
// system UUID (either byte order; registers record a VM's UUID in the
// serial column), then a MAC address (the odd appliance). A manual link
// (rosterctl assets link) always wins: matching never moves or removes
// it, and neither its asset nor its device takes part in matching.
//
// Matching is one pure function over a scope: every device and asset
// (after an import and on the periodic refresh), or the few a report or a
// single change can touch (loadScope). settle then writes the link and
// flag changes of the scope in the caller's transaction.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// How a link was made.
const (
	LinkSerial = "system_serial"
	LinkUUID   = "system_uuid"
	LinkMAC    = "mac"
	LinkManual = "manual"
)

// linkRank orders automatic matches, strongest first.
func linkRank(how string) int {
	switch how {
	case LinkSerial:
		return 0
	case LinkUUID:
		return 1
	}
	return 2
}

// devKey is what linking and flagging need of a device.
type devKey struct {
	id, hostname, serial, uuid, macs, flags, state, lastSeen string
}

// assetKey is what linking and flagging need of an asset.
type assetKey struct {
	id, tag, serial, suuid, smac, status, owner, ownerEmail, location string
}

type link struct {
	assetID, deviceID, how, linkedAt string
}

// scope is a set of devices and assets with their current links and flags.
type scope struct {
	devs   map[string]*devKey
	assets map[string]*assetKey
	links  map[string]link // by asset id, only links among the scope
	flags  map[flagKey]flagVal
	// expiredWipes: assets whose latest wipe request expired, by asset id.
	expiredWipes map[string]expiredWipe
	// What settle re-evaluates besides both ends of the links it changes
	// (linkeval.go): devices whose link a caller changed before settle,
	// and assets whose fields compliance reads changed (by asset id). A
	// report's device is evaluatedLater, from the report's facts.
	reevalDevs, reevalAssets map[string]bool
	evaluatedLater           string
}

func newScope() *scope {
	return &scope{devs: map[string]*devKey{}, assets: map[string]*assetKey{}, links: map[string]link{}, flags: map[flagKey]flagVal{},
		expiredWipes: map[string]expiredWipe{}, reevalDevs: map[string]bool{}, reevalAssets: map[string]bool{}}
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
		d := &devKey{}
		if err := rows.Scan(&d.id, &d.hostname, &d.serial, &d.uuid, &d.macs, &d.flags, &d.state, &d.lastSeen); err != nil {
			return fmt.Errorf("read devices: %w", err)
		}
		s.devs[d.id] = d
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
		a := &assetKey{}
		if err := rows.Scan(&a.id, &a.tag, &a.serial, &a.suuid, &a.smac, &a.status, &a.owner, &a.ownerEmail, &a.location); err != nil {
			return fmt.Errorf("read assets: %w", err)
		}
		s.assets[a.id] = a
	}
	return rows.Err()
}

func (s *scope) readLinks(ctx context.Context, q querier, where string, args ...any) ([]link, error) {
	rows, err := q.QueryContext(ctx, `SELECT asset_id, device_id, how, linked_at FROM asset_links `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	defer rows.Close()
	var out []link
	for rows.Next() {
		var l link
		if err := rows.Scan(&l.assetID, &l.deviceID, &l.how, &l.linkedAt); err != nil {
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
		s.links[l.assetID] = l
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
	for _, d := range slices.Collect(mapValues(s.devs)) {
		if d.serial != "" {
			if err := s.readAssets(ctx, q, `WHERE serial = $1`, d.serial); err != nil {
				return nil, err
			}
		}
		if d.uuid != "" {
			if err := s.readAssets(ctx, q, `WHERE serial_uuid = $1 OR serial_uuid = $2`, d.uuid, swapUUID(d.uuid)); err != nil {
				return nil, err
			}
		}
		for _, m := range splitList(d.macs) {
			if err := s.readAssets(ctx, q, `WHERE serial_mac = $1`, m); err != nil {
				return nil, err
			}
		}
	}
	for _, a := range slices.Collect(mapValues(s.assets)) {
		if a.serial != "" {
			if err := s.readDevs(ctx, q, `WHERE system_serial = $1`, a.serial); err != nil {
				return nil, err
			}
		}
		if a.suuid != "" {
			if err := s.readDevs(ctx, q, `WHERE system_uuid = $1 OR system_uuid = $2`, a.suuid, swapUUID(a.suuid)); err != nil {
				return nil, err
			}
		}
		if a.smac != "" {
			// macs is a list joined by ','; the LIKE over-fetches and
			// matchLinks compares whole addresses.
			if err := s.readDevs(ctx, q, `WHERE macs LIKE $1`, "%"+a.smac+"%"); err != nil {
				return nil, err
			}
		}
	}
	// Links touching any member, then the members they bring in.
	if err := s.readLinkedSides(ctx, q); err != nil {
		return nil, err
	}
	for id := range s.devs {
		if err := s.readFlags(ctx, q, subjectDevice, &id); err != nil {
			return nil, err
		}
	}
	for id := range s.assets {
		if err := s.readFlags(ctx, q, subjectAsset, &id); err != nil {
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
	for _, a := range slices.Collect(mapValues(s.assets)) {
		ls, err := s.readLinks(ctx, q, `WHERE asset_id = $1`, a.id)
		if err != nil {
			return err
		}
		for _, l := range ls {
			s.links[l.assetID] = l
			if _, ok := s.devs[l.deviceID]; !ok {
				if err := s.readDevs(ctx, q, `WHERE id = $1`, l.deviceID); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range slices.Collect(mapValues(s.devs)) {
		ls, err := s.readLinks(ctx, q, `WHERE device_id = $1`, d.id)
		if err != nil {
			return err
		}
		for _, l := range ls {
			s.links[l.assetID] = l
			if _, ok := s.assets[l.assetID]; !ok {
				if err := s.readAssets(ctx, q, `WHERE id = $1`, l.assetID); err != nil {
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

// matchLinks works out the links of a scope: manual links stay, then each
// automatic candidate pair is taken strongest first (serial, UUID, MAC);
// among equals a link that exists already stays (so two clones of one VM
// do not take the asset from each other on every report), then the device
// seen last wins. Each device and each asset gets at most one link.
func matchLinks(s *scope) map[string]link {
	out := map[string]link{}
	takenDev := map[string]bool{}
	for a, l := range s.links {
		if l.how == LinkManual {
			out[a] = l
			takenDev[l.deviceID] = true
		}
	}
	bySerial, byUUID, byMAC := map[string][]*devKey{}, map[string][]*devKey{}, map[string][]*devKey{}
	for _, d := range s.devs {
		if takenDev[d.id] {
			continue
		}
		if d.serial != "" {
			bySerial[d.serial] = append(bySerial[d.serial], d)
		}
		if d.uuid != "" {
			byUUID[d.uuid] = append(byUUID[d.uuid], d)
			if sw := swapUUID(d.uuid); sw != d.uuid && sw != "" {
				byUUID[sw] = append(byUUID[sw], d)
			}
		}
		for _, m := range splitList(d.macs) {
			byMAC[m] = append(byMAC[m], d)
		}
	}
	type pair struct {
		a    *assetKey
		d    *devKey
		how  string
		kept bool
	}
	var pairs []pair
	for _, a := range s.assets {
		if _, manual := out[a.id]; manual {
			continue
		}
		add := func(how string, ds []*devKey) {
			for _, d := range ds {
				cur, ok := s.links[a.id]
				pairs = append(pairs, pair{a, d, how, ok && cur.deviceID == d.id && cur.how == how})
			}
		}
		if a.serial != "" {
			add(LinkSerial, bySerial[a.serial])
		}
		if a.suuid != "" {
			add(LinkUUID, byUUID[a.suuid])
		}
		if a.smac != "" {
			add(LinkMAC, byMAC[a.smac])
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := cmp.Compare(linkRank(x.how), linkRank(y.how)); c != 0 {
			return c
		}
		if x.kept != y.kept {
			if x.kept {
				return -1
			}
			return 1
		}
		if c := strings.Compare(y.d.lastSeen, x.d.lastSeen); c != 0 {
			return c
		}
		if c := strings.Compare(x.a.tag, y.a.tag); c != 0 {
			return c
		}
		return strings.Compare(x.d.id, y.d.id)
	})
	for _, p := range pairs {
		if _, done := out[p.a.id]; done || takenDev[p.d.id] {
			continue
		}
		l := link{assetID: p.a.id, deviceID: p.d.id, how: p.how}
		if cur, ok := s.links[p.a.id]; ok && cur.deviceID == p.d.id && cur.how == p.how {
			l.linkedAt = cur.linkedAt
		}
		out[p.a.id] = l
		takenDev[p.d.id] = true
	}
	return out
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
	want := matchLinks(s)
	ts := fmtTime(now)
	var gone, added []link
	for a, cur := range s.links {
		if w, ok := want[a]; !ok || w.deviceID != cur.deviceID || w.how != cur.how {
			gone = append(gone, cur)
		}
	}
	for a, w := range want {
		if cur, ok := s.links[a]; !ok || w.deviceID != cur.deviceID || w.how != cur.how {
			w.linkedAt = ts
			want[a] = w
			added = append(added, w)
		}
	}
	slices.SortFunc(gone, func(x, y link) int { return strings.Compare(x.assetID, y.assetID) })
	slices.SortFunc(added, func(x, y link) int { return strings.Compare(x.assetID, y.assetID) })
	for _, l := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM asset_links WHERE asset_id = $1`, l.assetID); err != nil {
			return ch, fmt.Errorf("unlink asset: %w", err)
		}
		if err := h.add(KindAssetUnlinked, l.assetID, s.assets[l.assetID].tag, l.deviceID, l.how, l.deviceID, ""); err != nil {
			return ch, err
		}
	}
	for _, l := range added {
		if _, err := tx.ExecContext(ctx, `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, $3, $4)`, l.assetID, l.deviceID, l.how, l.linkedAt); err != nil {
			return ch, fmt.Errorf("link asset: %w", err)
		}
		if err := h.add(KindAssetLinked, l.assetID, s.assets[l.assetID].tag, l.deviceID, l.how, "", l.deviceID); err != nil {
			return ch, err
		}
	}
	ch.LinksChanged = len(gone) + len(added)
	s.links = want
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
	l, ok := s.links[assetID]
	if !ok {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM asset_links WHERE asset_id = $1`, assetID); err != nil {
		return fmt.Errorf("unlink asset: %w", err)
	}
	delete(s.links, assetID)
	s.reevalDevs[l.deviceID] = true
	return h.add(KindAssetUnlinked, assetID, s.assets[assetID].tag, l.deviceID, l.how, l.deviceID, "")
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
		if l, ok := s.links[assetID]; ok && l.deviceID == dev && l.how == LinkManual {
			return nil
		}
		h, err := newHistoryWriter(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		defer h.close()
		for a, l := range s.links {
			if a == assetID || l.deviceID == dev {
				if err := dropLink(ctx, tx, h, s, a); err != nil {
					return err
				}
			}
		}
		l := link{assetID: assetID, deviceID: dev, how: LinkManual, linkedAt: fmtTime(now)}
		if _, err := tx.ExecContext(ctx, `INSERT INTO asset_links (asset_id, device_id, how, linked_at) VALUES ($1, $2, $3, $4)`, l.assetID, l.deviceID, l.how, l.linkedAt); err != nil {
			return fmt.Errorf("link asset: %w", err)
		}
		s.links[assetID] = l
		s.reevalDevs[dev] = true
		if err := h.add(KindAssetLinked, assetID, s.assets[assetID].tag, dev, LinkManual, "", dev); err != nil {
			return err
		}
		if _, err = r.settle(ctx, tx, s, actor, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "asset.linked", "asset:"+s.assets[assetID].tag, map[string]string{"device_id": dev, "how": LinkManual})
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
		if _, ok := s.links[assetID]; !ok {
			return ErrInvalid.Errorf("asset %s is not linked", tag)
		}
		h, err := newHistoryWriter(ctx, tx, actor, now)
		if err != nil {
			return err
		}
		defer h.close()
		dev := s.links[assetID].deviceID
		if err := dropLink(ctx, tx, h, s, assetID); err != nil {
			return err
		}
		if _, err = r.settle(ctx, tx, s, actor, now); err != nil {
			return err
		}
		return r.audit(ctx, tx, "asset.unlinked", "asset:"+s.assets[assetID].tag, map[string]string{"device_id": dev})
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
