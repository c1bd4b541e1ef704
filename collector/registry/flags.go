package registry

// Flags: what is wrong between the register and the fleet (unregistered,
// not_in_service and identity_conflict on devices, missing and
// wipe_expired on assets). Which flags a scope carries, and which stored
// flags change, is decided by register.ComputeFlags and register.DiffFlags;
// here each flag row is stored with the time it was first set and deleted
// when the cause goes away; both are recorded in register_history as
// device.<flag> and device.flag_cleared, the events the events engine
// turns into notifications. A device's flags are also kept in
// devices.flags so lists and filters see them.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/register"
)

// Register flags (register.ComputeFlags decides which a scope carries).
const (
	FlagUnregistered = register.FlagUnregistered
	FlagMissing      = register.FlagMissing
	FlagNotInService = register.FlagNotInService
	FlagWipeExpired  = register.FlagWipeExpired
)

// Flags lists every flag.
func Flags() []string {
	return []string{FlagUnregistered, FlagMissing, FlagNotInService, FlagIdentityConflict, FlagWipeExpired}
}

// Flag severities.
const (
	SeverityWarning  = register.SeverityWarning
	SeverityIncident = register.SeverityIncident
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
		var k register.FlagKey
		var v register.FlagValue
		if err := rows.Scan(&k.Subject, &k.ID, &k.Flag, &v.Since, &v.Severity, &v.Detail); err != nil {
			return fmt.Errorf("read flags: %w", err)
		}
		s.flags[k] = v
	}
	return rows.Err()
}

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
		var w register.ExpiredWipe
		if err := rows.Scan(&asset, &w.ID, &w.Ticket); err != nil {
			return fmt.Errorf("read expired wipes: %w", err)
		}
		if _, ok := s.Assets[asset]; ok {
			s.ExpiredWipes[asset] = w
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

// syncFlags makes the scope's stored flags those register.ComputeFlags
// wants (register.DiffFlags decides), recording each set and clear in the history.
func (r *Registry) syncFlags(ctx context.Context, tx *Tx, h *historyWriter, s *scope, now time.Time) (set, cleared int, err error) {
	changes, want := register.DiffFlags(s.flags, register.ComputeFlags(s.Scope, now, r.missingWindow()), fmtTime(now))
	changedDev := map[string]bool{}
	assetOf := func(k register.FlagKey) (string, string, string) {
		if k.Subject == register.SubjectAsset {
			a := s.Assets[k.ID]
			dev := ""
			if l, ok := s.Links[k.ID]; ok {
				dev = l.DeviceID
			}
			return a.ID, a.Tag, dev
		}
		for _, l := range s.Links {
			if l.DeviceID == k.ID {
				return l.AssetID, s.Assets[l.AssetID].Tag, k.ID
			}
		}
		return "", "", k.ID
	}
	for _, c := range changes {
		k, w := c.Key, c.New
		assetID, tag, dev := assetOf(k)
		switch c.Op {
		case register.OpSet:
			if _, err := tx.ExecContext(ctx, `INSERT INTO flags (subject, subject_id, flag, since, severity, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
				k.Subject, k.ID, k.Flag, w.Since, w.Severity, w.Detail); err != nil {
				return set, cleared, fmt.Errorf("set flag: %w", err)
			}
			if err := h.add("device."+k.Flag, assetID, tag, dev, w.Severity, "", w.Detail); err != nil {
				return set, cleared, err
			}
			set++
		case register.OpUpdate:
			if _, err := tx.ExecContext(ctx, `UPDATE flags SET severity = $1, detail = $2 WHERE subject = $3 AND subject_id = $4 AND flag = $5`,
				w.Severity, w.Detail, k.Subject, k.ID, k.Flag); err != nil {
				return set, cleared, fmt.Errorf("update flag: %w", err)
			}
			if w.Severity != c.Old.Severity {
				if err := h.add("device."+k.Flag, assetID, tag, dev, w.Severity, c.Old.Detail, w.Detail); err != nil {
					return set, cleared, err
				}
			}
		case register.OpClear:
			if _, err := tx.ExecContext(ctx, `DELETE FROM flags WHERE subject = $1 AND subject_id = $2 AND flag = $3`, k.Subject, k.ID, k.Flag); err != nil {
				return set, cleared, fmt.Errorf("clear flag: %w", err)
			}
			if err := h.add(KindFlagCleared, assetID, tag, dev, k.Flag, c.Old.Detail, ""); err != nil {
				return set, cleared, err
			}
			cleared++
		}
		if k.Subject == register.SubjectDevice && c.Op != register.OpUpdate {
			changedDev[k.ID] = true
		}
	}
	s.flags = want
	// devices.flags: keep what report apply owns (identity_conflict), put
	// the register's device flags beside it.
	for id := range changedDev {
		d := s.Devices[id]
		if d == nil {
			continue
		}
		var l []string
		for _, f := range splitList(d.Flags) {
			if f != FlagUnregistered && f != FlagNotInService {
				l = append(l, f)
			}
		}
		for _, f := range []string{FlagUnregistered, FlagNotInService} {
			if _, ok := want[register.FlagKey{Subject: register.SubjectDevice, ID: id, Flag: f}]; ok {
				l = append(l, f)
			}
		}
		slices.Sort(l)
		if nf := strings.Join(l, ","); nf != d.Flags {
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET flags = $1 WHERE id = $2`, nf, id); err != nil {
				return set, cleared, fmt.Errorf("update device flags: %w", err)
			}
			d.Flags = nf
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
		f, err := subjectFlags(ctx, q, register.SubjectAsset, as[i].ID)
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
		if a.Flags, err = subjectFlags(ctx, q, register.SubjectAsset, a.ID); err != nil {
			return err
		}
		d.Asset = &a
	}
	fl, err := subjectFlags(ctx, q, register.SubjectDevice, d.ID)
	if err != nil {
		return err
	}
	d.FlagDetails = fl
	return nil
}
