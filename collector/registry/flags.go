package registry

// Flags: what is wrong between the register and the fleet. Device flags
// are unregistered (reports, links to no asset), not_in_service (its asset
// is not in_service; a disposed asset reporting is an incident) and
// identity_conflict (set by report apply, mirrored here for its first-seen
// time); the asset flag is missing (in_service, and no linked device seen
// within MissingAfter, or never). Each flag row keeps the time it was
// first set and is deleted when the cause goes away; both are recorded in
// register_history as device.<flag> and device.flag_cleared, the events
// the events engine turns into notifications. A device's flags are also
// kept in devices.flags so lists and filters see them.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
)

// Register flags.
const (
	FlagUnregistered = "unregistered"
	FlagMissing      = "missing"
	FlagNotInService = "not_in_service"
	// FlagWipeExpired marks an asset whose latest wipe request expired: the
	// device was not seen before the deadline, so offboarding is stuck and
	// needs a person (escalation).
	FlagWipeExpired = "wipe_expired"
)

// Flags lists every flag.
func Flags() []string {
	return []string{FlagUnregistered, FlagMissing, FlagNotInService, FlagIdentityConflict, FlagWipeExpired}
}

// Flag severities.
const (
	SeverityWarning  = "warning"
	SeverityIncident = "incident"
)

// DefaultMissingAfter is how long an in_service asset's device may stay
// silent before the asset is missing.
const DefaultMissingAfter = 14 * 24 * time.Hour

// Flag is one flag on a device or asset (API keys).
type Flag struct {
	Flag     string    `json:"flag"`
	Since    time.Time `json:"since"`
	Severity string    `json:"severity"`
	Detail   string    `json:"detail"`
}

const (
	subjectDevice = "device"
	subjectAsset  = "asset"
)

type flagKey struct{ subject, id, flag string }

type flagVal struct{ since, severity, detail string }

func (s *scope) readFlags(ctx context.Context, q querier, subject string, id *string) error {
	stmt, args := `SELECT subject, subject_id, flag, since, severity, detail FROM flags`, []any{}
	if id != nil {
		stmt += ` WHERE subject = $1 AND subject_id = $2`
		args = []any{subject, *id}
	}
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("read flags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k flagKey
		var v flagVal
		if err := rows.Scan(&k.subject, &k.id, &k.flag, &v.since, &v.severity, &v.detail); err != nil {
			return fmt.Errorf("read flags: %w", err)
		}
		s.flags[k] = v
	}
	return rows.Err()
}

type expiredWipe struct{ id, ticket string }

// readExpiredWipes notes, for the scope's assets, those whose latest wipe
// request expired. Expired requests are few, so one query serves a single
// asset and the whole fleet alike.
func (s *scope) readExpiredWipes(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `SELECT w.asset_id, w.id, w.ticket FROM wipe_requests w
		WHERE w.state = 'expired' AND w.asset_id != ''
		AND w.created_at = (SELECT max(created_at) FROM wipe_requests x WHERE x.asset_id = w.asset_id)`)
	if err != nil {
		return fmt.Errorf("read expired wipes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var asset string
		var w expiredWipe
		if err := rows.Scan(&asset, &w.id, &w.ticket); err != nil {
			return fmt.Errorf("read expired wipes: %w", err)
		}
		if _, ok := s.assets[asset]; ok {
			s.expiredWipes[asset] = w
		}
	}
	return rows.Err()
}

// SetMissingAfter sets how long an in_service asset's devices may be
// silent before it is missing (DefaultMissingAfter until set; d <= 0
// restores the default). The next refresh applies it to every asset.
func (r *Registry) SetMissingAfter(d time.Duration) {
	if d <= 0 {
		d = DefaultMissingAfter
	}
	r.missingAfter.Store(int64(d))
}

func (r *Registry) missingWindow() time.Duration {
	if d := r.missingAfter.Load(); d > 0 {
		return time.Duration(d)
	}
	return DefaultMissingAfter
}

// computeFlags is the flags a scope should carry with its links as they
// are now. An asset is missing when it is in_service and its device was
// last seen more than window before now (exactly window ago is not yet
// missing), or it has none. Revoked devices are out of the fleet and carry
// no register flags.
func computeFlags(s *scope, now time.Time, window time.Duration) map[flagKey]flagVal {
	want := map[flagKey]flagVal{}
	byDev := map[string]link{}
	for _, l := range s.links {
		byDev[l.deviceID] = l
	}
	for _, d := range s.devs {
		if slices.Contains(splitList(d.flags), FlagIdentityConflict) {
			want[flagKey{subjectDevice, d.id, FlagIdentityConflict}] = flagVal{severity: SeverityWarning, detail: "another live device reports the same hardware identity"}
		}
		if d.state == StateRevoked {
			continue
		}
		l, ok := byDev[d.id]
		if !ok {
			want[flagKey{subjectDevice, d.id, FlagUnregistered}] = flagVal{severity: SeverityWarning, detail: "no asset in the register matches this device"}
			continue
		}
		a := s.assets[l.assetID]
		if a == nil || a.status == assetcsv.StatusInService {
			continue
		}
		v := flagVal{severity: SeverityWarning, detail: fmt.Sprintf("asset %s is %s, not in_service", a.tag, a.status)}
		if a.status == assetcsv.StatusDisposed {
			v = flagVal{severity: SeverityIncident, detail: fmt.Sprintf("asset %s is disposed but its device still reports", a.tag)}
		}
		want[flagKey{subjectDevice, d.id, FlagNotInService}] = v
	}
	for _, a := range s.assets {
		if w, ok := s.expiredWipes[a.id]; ok && a.status == assetcsv.StatusOffboarding {
			want[flagKey{subjectAsset, a.id, FlagWipeExpired}] = flagVal{severity: SeverityIncident,
				detail: fmt.Sprintf("wipe request %s (ticket %s) expired before the device took it: escalate, or record a manual wipe", w.id, w.ticket)}
		}
	}
	cutoff := now.Add(-window)
	for _, a := range s.assets {
		if a.status != assetcsv.StatusInService {
			continue
		}
		l, ok := s.links[a.id]
		if !ok {
			want[flagKey{subjectAsset, a.id, FlagMissing}] = flagVal{severity: SeverityWarning, detail: "no device has reported for this asset"}
			continue
		}
		d := s.devs[l.deviceID]
		if d == nil {
			continue
		}
		if seen := parseTime(d.lastSeen); seen.Before(cutoff) {
			want[flagKey{subjectAsset, a.id, FlagMissing}] = flagVal{severity: SeverityWarning,
				detail: fmt.Sprintf("device %s (%s) last seen %s, more than %s ago", d.hostname, d.id, seen.Format(time.RFC3339), window)}
		}
	}
	return want
}

// flagOp is what syncFlags does to one stored flag.
type flagOp int

const (
	flagSet    flagOp = iota + 1 // newly raised: stored with since = now
	flagUpdate                   // still raised, severity or detail changed
	flagClear                    // the cause went away: deleted
)

// flagChange is one flag write: key, the value before (zero when set) and
// after (zero when cleared).
type flagChange struct {
	op       flagOp
	key      flagKey
	old, new flagVal
}

// diffFlags decides, from the stored flags and those computeFlags wants,
// which to set, update and clear (in key order), and the flags afterwards:
// a flag that stays keeps the time it was first set, a new one is set at
// ts. A flag that stays with the same severity and detail is not written.
func diffFlags(cur, want map[flagKey]flagVal, ts string) ([]flagChange, map[flagKey]flagVal) {
	keys := make([]flagKey, 0, len(want)+len(cur))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b flagKey) int {
		return strings.Compare(a.subject+a.id+a.flag, b.subject+b.id+b.flag)
	})
	var changes []flagChange
	after := make(map[flagKey]flagVal, len(want))
	for _, k := range keys {
		w, wanted := want[k]
		c, has := cur[k]
		switch {
		case wanted && !has:
			w.since = ts
			changes = append(changes, flagChange{op: flagSet, key: k, new: w})
		case wanted:
			w.since = c.since
			if w.severity != c.severity || w.detail != c.detail {
				changes = append(changes, flagChange{op: flagUpdate, key: k, old: c, new: w})
			}
		default:
			changes = append(changes, flagChange{op: flagClear, key: k, old: c})
		}
		if wanted {
			after[k] = w
		}
	}
	return changes, after
}

// syncFlags makes the scope's stored flags those computeFlags wants
// (diffFlags decides), recording each set and clear in the history.
func (r *Registry) syncFlags(ctx context.Context, tx *Tx, h *historyWriter, s *scope, now time.Time) (set, cleared int, err error) {
	changes, want := diffFlags(s.flags, computeFlags(s, now, r.missingWindow()), fmtTime(now))
	changedDev := map[string]bool{}
	assetOf := func(k flagKey) (string, string, string) {
		if k.subject == subjectAsset {
			a := s.assets[k.id]
			dev := ""
			if l, ok := s.links[k.id]; ok {
				dev = l.deviceID
			}
			return a.id, a.tag, dev
		}
		for _, l := range s.links {
			if l.deviceID == k.id {
				return l.assetID, s.assets[l.assetID].tag, k.id
			}
		}
		return "", "", k.id
	}
	for _, c := range changes {
		k, w := c.key, c.new
		assetID, tag, dev := assetOf(k)
		switch c.op {
		case flagSet:
			if _, err := tx.ExecContext(ctx, `INSERT INTO flags (subject, subject_id, flag, since, severity, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
				k.subject, k.id, k.flag, w.since, w.severity, w.detail); err != nil {
				return set, cleared, fmt.Errorf("set flag: %w", err)
			}
			if err := h.add("device."+k.flag, assetID, tag, dev, w.severity, "", w.detail); err != nil {
				return set, cleared, err
			}
			set++
		case flagUpdate:
			if _, err := tx.ExecContext(ctx, `UPDATE flags SET severity = $1, detail = $2 WHERE subject = $3 AND subject_id = $4 AND flag = $5`,
				w.severity, w.detail, k.subject, k.id, k.flag); err != nil {
				return set, cleared, fmt.Errorf("update flag: %w", err)
			}
			if w.severity != c.old.severity {
				if err := h.add("device."+k.flag, assetID, tag, dev, w.severity, c.old.detail, w.detail); err != nil {
					return set, cleared, err
				}
			}
		case flagClear:
			if _, err := tx.ExecContext(ctx, `DELETE FROM flags WHERE subject = $1 AND subject_id = $2 AND flag = $3`, k.subject, k.id, k.flag); err != nil {
				return set, cleared, fmt.Errorf("clear flag: %w", err)
			}
			if err := h.add(KindFlagCleared, assetID, tag, dev, k.flag, c.old.detail, ""); err != nil {
				return set, cleared, err
			}
			cleared++
		}
		if k.subject == subjectDevice && c.op != flagUpdate {
			changedDev[k.id] = true
		}
	}
	s.flags = want
	// devices.flags: keep what report apply owns (identity_conflict), put
	// the register's device flags beside it.
	for id := range changedDev {
		d := s.devs[id]
		if d == nil {
			continue
		}
		var l []string
		for _, f := range splitList(d.flags) {
			if f != FlagUnregistered && f != FlagNotInService {
				l = append(l, f)
			}
		}
		for _, f := range []string{FlagUnregistered, FlagNotInService} {
			if _, ok := want[flagKey{subjectDevice, id, f}]; ok {
				l = append(l, f)
			}
		}
		slices.Sort(l)
		if nf := strings.Join(l, ","); nf != d.flags {
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET flags = $1 WHERE id = $2`, nf, id); err != nil {
				return set, cleared, fmt.Errorf("update device flags: %w", err)
			}
			d.flags = nf
		}
	}
	return set, cleared, nil
}

// RefreshFlags re-links every device and asset and recomputes every flag
// as of now, in one transaction. Missing is the one flag time alone sets,
// so the collector runs this periodically (assets.refresh_interval);
// tests call it with an injected now.
func (r *Registry) RefreshFlags(ctx context.Context, now time.Time) (Changes, error) {
	var ch Changes
	err := r.Write(ctx, func(tx *Tx) error {
		s, err := r.loadAll(ctx, tx)
		if err != nil {
			return err
		}
		if ch, err = r.settle(ctx, tx, s, actorCollector, now.UTC()); err != nil {
			return err
		}
		if ch.LinksChanged+ch.FlagsSet+ch.FlagsCleared == 0 {
			return nil
		}
		return r.audit(ctx, tx, "flags.refreshed", "register", ch)
	})
	if err != nil {
		return Changes{}, fmt.Errorf("refresh flags: %w", err)
	}
	return ch, nil
}

// subjectFlags reads one device's or asset's flags, oldest first.
func subjectFlags(ctx context.Context, q querier, subject, id string) ([]Flag, error) {
	rows, err := q.QueryContext(ctx, `SELECT flag, since, severity, detail FROM flags WHERE subject = $1 AND subject_id = $2 ORDER BY since, flag`, subject, id)
	if err != nil {
		return nil, fmt.Errorf("read flags: %w", err)
	}
	defer rows.Close()
	out := []Flag{}
	for rows.Next() {
		var f Flag
		var since string
		if err := rows.Scan(&f.Flag, &since, &f.Severity, &f.Detail); err != nil {
			return nil, fmt.Errorf("read flags: %w", err)
		}
		f.Since = parseTime(since)
		out = append(out, f)
	}
	return out, rows.Err()
}

func attachAssetFlags(ctx context.Context, q querier, as []Asset) error {
	for i := range as {
		f, err := subjectFlags(ctx, q, subjectAsset, as[i].ID)
		if err != nil {
			return err
		}
		as[i].Flags = f
	}
	return nil
}

// DeviceAsset is the register's view of a device, on the single-device
// read (GET /api/v1/devices/{ref}).
type DeviceAsset struct {
	ID             string    `json:"id"`
	AssetTag       string    `json:"asset_tag"`
	Type           string    `json:"type"`
	Model          string    `json:"model"`
	Owner          string    `json:"owner"`
	OwnerEmail     string    `json:"owner_email"`
	Classification string    `json:"classification"`
	Location       string    `json:"location"`
	Status         string    `json:"status"`
	LinkedBy       string    `json:"linked_by"`
	LinkedAt       time.Time `json:"linked_at"`
	Flags          []Flag    `json:"flags"`
}

// attachRegister fills a device's asset and flag details.
func attachRegister(ctx context.Context, q querier, d *Device) error {
	var a DeviceAsset
	var linkedAt string
	err := q.QueryRowContext(ctx, `SELECT a.id, a.asset_tag, a.type, a.model, a.owner, a.owner_email, a.classification, a.location, a.status, l.how, l.linked_at
		FROM asset_links l JOIN assets a ON a.id = l.asset_id WHERE l.device_id = $1`, d.ID).
		Scan(&a.ID, &a.AssetTag, &a.Type, &a.Model, &a.Owner, &a.OwnerEmail, &a.Classification, &a.Location, &a.Status, &a.LinkedBy, &linkedAt)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return fmt.Errorf("read device asset: %w", err)
	default:
		a.LinkedAt = parseTime(linkedAt)
		if a.Flags, err = subjectFlags(ctx, q, subjectAsset, a.ID); err != nil {
			return err
		}
		d.Asset = &a
	}
	fl, err := subjectFlags(ctx, q, subjectDevice, d.ID)
	if err != nil {
		return err
	}
	d.FlagDetails = fl
	return nil
}
