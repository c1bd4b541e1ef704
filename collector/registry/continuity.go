package registry

// Continuity: when an enrolment may continue an existing device record.
// Hardware identity is self-reported, so it never by itself takes over a
// device that is alive. It continues a record only where that is safe:
// every certificate of the matched device is revoked or expired, the
// device has been silent longer than a window, an admin pre-authorised a
// reinstall, or the agent proved it holds the device's key. Otherwise the
// enrolment becomes a new record and both are flagged identity_conflict
// until an admin merges them or revokes one. decideContinuity is the pure
// rule; the rest loads its inputs and writes its outcome.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/fault"
)

// Enrolment rules: how a device record came to hold its newest
// certificate.
const (
	// RuleNew: no device matched the hardware identity.
	RuleNew = "new"
	// RuleConflict: a live device matched; this is a new record in
	// conflict with it.
	RuleConflict = "conflict"
	// RuleCertificatesRevoked: every certificate of the matched device
	// was revoked or had expired.
	RuleCertificatesRevoked = "certificates_revoked"
	// RuleSilent: the matched device had been silent longer than the
	// re-enrolment window.
	RuleSilent = "silent"
	// RuleAdminAllowed: an admin pre-authorised a reinstall.
	RuleAdminAllowed = "admin_allowed"
	// RuleKeyProof: the agent signed the enrolment with the matched
	// device's key (re-enrolment from an intact state directory).
	RuleKeyProof = "key_proof"
	// RuleMerged: an admin merged another record into this one.
	RuleMerged = "merged"
)

// Defaults of the enrolment policy (collector config "enrolment:").
const (
	DefaultReenrollAfterSilence = 30 * 24 * time.Hour
	DefaultCommandLifetime      = 7 * 24 * time.Hour
	// MaxReenrollAllowance bounds allow-reenroll's --within.
	MaxReenrollAllowance = 30 * 24 * time.Hour
	// DefaultReenrollAllowance is allow-reenroll's window when none is given.
	DefaultReenrollAllowance = 24 * time.Hour
)

// EnrolmentPolicy tunes continuity and signed commands.
type EnrolmentPolicy struct {
	// ReenrollAfterSilence is how long a device must have been silent
	// before a matching enrolment continues it without other proof.
	ReenrollAfterSilence time.Duration
	// CommandLifetime caps a signed command's validity: its expiry is the
	// earlier of the request's deadline and its signing plus this.
	CommandLifetime time.Duration
}

// SetEnrolmentPolicy sets the policy; zero fields keep their defaults.
func (r *Registry) SetEnrolmentPolicy(p EnrolmentPolicy) {
	r.reenrollAfter.Store(int64(p.ReenrollAfterSilence))
	r.commandLifetime.Store(int64(p.CommandLifetime))
}

func (r *Registry) silenceWindow() time.Duration {
	if d := r.reenrollAfter.Load(); d > 0 {
		return time.Duration(d)
	}
	return DefaultReenrollAfterSilence
}

func (r *Registry) commandCap() time.Duration {
	if d := r.commandLifetime.Load(); d > 0 {
		return time.Duration(d)
	}
	return DefaultCommandLifetime
}

// KeyProof is an enrolment's proof of possession after the API verified
// it: the enrolling agent signed its new key with the private key of the
// certificate Serial, which the collector's CA issued to DeviceID.
type KeyProof struct {
	DeviceID string
	Serial   string
}

// candidate is a device an enrolment's hardware identity matched, with
// what the rule needs to know about it.
type candidate struct {
	id       string
	state    string
	lastSeen time.Time
	// liveCert: the device holds an unrevoked, unexpired certificate.
	liveCert bool
	// allowedUntil is an admin's reinstall allowance (zero: none).
	allowedUntil time.Time
	// proven: the enrolment proved possession of one of its current
	// certificates' keys.
	proven bool
}

// continuity is the rule's decision.
type continuity struct {
	// device is the record to continue; "" makes a new one.
	device string
	rule   string
	// conflicts are the live devices a conflicting enrolment matched.
	conflicts []string
	detail    string
}

// decideContinuity applies the rules in order of strength: key proof,
// admin allowance, then, only when no matched device is alive (revoked,
// or no live certificate, or silent past window), the most recently seen
// match. cands come most recently seen first.
func decideContinuity(cands []candidate, now time.Time, window time.Duration) continuity {
	if len(cands) == 0 {
		return continuity{rule: RuleNew}
	}
	for _, c := range cands {
		if c.proven {
			return continuity{device: c.id, rule: RuleKeyProof, detail: "the agent signed with the key of a current certificate of " + c.id}
		}
	}
	for _, c := range cands {
		if !c.allowedUntil.IsZero() && now.Before(c.allowedUntil) {
			return continuity{device: c.id, rule: RuleAdminAllowed, detail: "reinstall allowed until " + fmtTime(c.allowedUntil)}
		}
	}
	var live []string
	for _, c := range cands {
		if c.state != StateRevoked && c.liveCert && now.Sub(c.lastSeen) <= window {
			live = append(live, c.id)
		}
	}
	if len(live) > 0 {
		return continuity{rule: RuleConflict, conflicts: live,
			detail: fmt.Sprintf("matched %d live device(s) that reported within %s", len(live), window)}
	}
	c := cands[0]
	if c.state == StateRevoked || !c.liveCert {
		return continuity{device: c.id, rule: RuleCertificatesRevoked, detail: "every certificate of " + c.id + " was revoked or expired"}
	}
	return continuity{device: c.id, rule: RuleSilent, detail: fmt.Sprintf("%s last seen %s, silent longer than %s", c.id, fmtTime(c.lastSeen), window)}
}

// loadCandidates reads what decideContinuity needs of each matched device
// (merged records are out: another record continues them).
func loadCandidates(ctx context.Context, tx *Tx, ids []string, proof *KeyProof, now time.Time) ([]candidate, error) {
	var out []candidate
	for _, id := range ids {
		c := candidate{id: id}
		var seen, merged string
		var allowed sql.NullString
		var live int
		err := tx.QueryRowContext(ctx, `SELECT d.state, d.last_seen, d.merged_into,
			(SELECT count(*) FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL AND c.not_after > $1),
			(SELECT a.until FROM reenroll_allowances a WHERE a.device_id = d.id)
			FROM devices d WHERE d.id = $2`, fmtTime(now), id).Scan(&c.state, &seen, &merged, &live, &allowed)
		if err != nil {
			return nil, fmt.Errorf("read matched device %s: %w", id, err)
		}
		if merged != "" {
			continue
		}
		c.lastSeen, c.liveCert = parseTime(seen), live > 0
		if allowed.Valid {
			c.allowedUntil = parseTime(allowed.String)
		}
		if proof != nil && proof.DeviceID == id && c.state != StateRevoked {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM certificates WHERE serial = $1 AND device_id = $2 AND revoked_at IS NULL`,
				proof.Serial, id).Scan(&n); err != nil {
				return nil, fmt.Errorf("check key proof: %w", err)
			}
			c.proven = n > 0
		}
		out = append(out, c)
	}
	return out, nil
}

// secretOf names the enrolment secret a plain secret is, for the record.
func secretOf(ctx context.Context, tx *Tx, plain string) (id, label string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT id, label FROM enrol_secrets WHERE hash = $1`, hashToken(plain)).Scan(&id, &label)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return id, label, err
}

// Enrolment is one enrolment of a device (API keys): which secret, which
// rule, and what it matched.
type Enrolment struct {
	At            time.Time `json:"at"`
	SecretID      string    `json:"secret_id"`
	SecretLabel   string    `json:"secret_label"`
	Rule          string    `json:"rule"`
	MatchedBy     string    `json:"matched_by"`
	MatchedDevice string    `json:"matched_device"`
	CertSerial    string    `json:"cert_serial"`
	Detail        string    `json:"detail"`
}

func recordEnrolment(ctx context.Context, tx *Tx, dev string, e Enrolment) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO enrolments (device_id, at, secret_id, secret_label, rule, matched_by, matched_device, cert_serial, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		dev, fmtTime(e.At), e.SecretID, e.SecretLabel, e.Rule, e.MatchedBy, e.MatchedDevice, e.CertSerial, e.Detail)
	if err != nil {
		return fmt.Errorf("record enrolment: %w", err)
	}
	return nil
}

// IdentityConflict is an enrolment conflict waiting for a person (API
// keys): Device enrolled with the identity of the live Other.
type IdentityConflict struct {
	Device    string    `json:"device_id"`
	Other     string    `json:"other_id"`
	MatchedBy string    `json:"matched_by"`
	Since     time.Time `json:"since"`
}

// attachEnrolment fills a device's enrolment record, open conflicts,
// reinstall allowance and merge (the single-device read).
func attachEnrolment(ctx context.Context, q querier, d *Device) error {
	rows, err := q.QueryContext(ctx, `SELECT at, secret_id, secret_label, rule, matched_by, matched_device, cert_serial, detail
		FROM enrolments WHERE device_id = $1 ORDER BY id`, d.ID)
	if err != nil {
		return fmt.Errorf("read enrolments: %w", err)
	}
	d.Enrolments = []Enrolment{}
	for rows.Next() {
		var e Enrolment
		var at string
		if err := rows.Scan(&at, &e.SecretID, &e.SecretLabel, &e.Rule, &e.MatchedBy, &e.MatchedDevice, &e.CertSerial, &e.Detail); err != nil {
			rows.Close()
			return fmt.Errorf("read enrolments: %w", err)
		}
		e.At = parseTime(at)
		d.Enrolments = append(d.Enrolments, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read enrolments: %w", err)
	}
	if n := len(d.Enrolments); n > 0 {
		last := d.Enrolments[n-1]
		d.Enrolment = &last
	}
	if d.IdentityConflicts, err = conflictsOf(ctx, q, d.ID); err != nil {
		return err
	}
	var until sql.NullString
	err = q.QueryRowContext(ctx, `SELECT until FROM reenroll_allowances WHERE device_id = $1`, d.ID).Scan(&until)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read reinstall allowance: %w", err)
	}
	d.ReenrollAllowedUntil = timePtr(until)
	if err := q.QueryRowContext(ctx, `SELECT merged_into FROM devices WHERE id = $1`, d.ID).Scan(&d.MergedInto); err != nil {
		return fmt.Errorf("read merge: %w", err)
	}
	return nil
}

// conflictsOf lists the open enrolment conflicts a device is part of.
func conflictsOf(ctx context.Context, q querier, id string) ([]IdentityConflict, error) {
	rows, err := q.QueryContext(ctx, `SELECT device_id, other_id, matched_by, since FROM identity_conflicts
		WHERE device_id = $1 OR other_id = $1 ORDER BY since, device_id, other_id`, id)
	if err != nil {
		return nil, fmt.Errorf("read identity conflicts: %w", err)
	}
	defer rows.Close()
	out := []IdentityConflict{}
	for rows.Next() {
		var c IdentityConflict
		var since string
		if err := rows.Scan(&c.Device, &c.Other, &c.MatchedBy, &since); err != nil {
			return nil, fmt.Errorf("read identity conflicts: %w", err)
		}
		c.Since = parseTime(since)
		out = append(out, c)
	}
	return out, rows.Err()
}

// conflictPartners is every device self conflicts with now: live devices
// claiming its identity (liveConflicts) and the unrevoked partners of its
// open enrolment conflicts, which stay until a person resolves them.
func conflictPartners(ctx context.Context, tx *Tx, self string, id hwID, now time.Time) ([]string, error) {
	out, err := liveConflicts(ctx, tx, self, id, now)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT CASE WHEN i.device_id = $1 THEN i.other_id ELSE i.device_id END AS o
		FROM identity_conflicts i WHERE i.device_id = $1 OR i.other_id = $1`, self)
	if err != nil {
		return nil, fmt.Errorf("read identity conflicts: %w", err)
	}
	var pairs []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return nil, err
		}
		pairs = append(pairs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, o := range pairs {
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM devices WHERE id = $1`, o).Scan(&state); err != nil {
			return nil, fmt.Errorf("read conflicting device %s: %w", o, err)
		}
		if state != StateRevoked && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out, nil
}

// setConflictFlag adds or removes identity_conflict on a device (and its
// state) and re-flags it in the register, inside tx. It reports whether
// the flag changed.
func (r *Registry) setConflictFlag(ctx context.Context, tx *Tx, id string, on bool, now time.Time) (bool, error) {
	var flags, state string
	if err := tx.QueryRowContext(ctx, `SELECT flags, state FROM devices WHERE id = $1`, id).Scan(&flags, &state); err != nil {
		return false, fmt.Errorf("read device %s: %w", id, err)
	}
	nf := removeFlag(flags, FlagIdentityConflict)
	if on {
		nf = addFlag(flags, FlagIdentityConflict)
	}
	if nf == flags {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET flags = $1, state = $2 WHERE id = $3`, nf, stateFor(state == StateRevoked, nf), id); err != nil {
		return false, fmt.Errorf("flag identity conflict: %w", err)
	}
	return true, r.relinkDevice(ctx, tx, id, now)
}

// clearConflicts drops the open enrolment conflicts of id, then lifts the
// flag from id and from each former partner that conflicts with nothing
// any more. It returns the devices whose flag was lifted.
func (r *Registry) clearConflicts(ctx context.Context, tx *Tx, id string, now time.Time) ([]string, error) {
	pairs, err := conflictsOf(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM identity_conflicts WHERE device_id = $1 OR other_id = $1`, id); err != nil {
		return nil, fmt.Errorf("clear identity conflicts: %w", err)
	}
	check := []string{id}
	for _, p := range pairs {
		for _, o := range []string{p.Device, p.Other} {
			if !slices.Contains(check, o) {
				check = append(check, o)
			}
		}
	}
	var lifted []string
	for _, d := range check {
		var dev hwID
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT system_serial, system_uuid, board_serial, macs, state FROM devices WHERE id = $1`, d).
			Scan(&dev.Serial, &dev.UUID, &dev.Board, &dev.MACs, &state); err != nil {
			return nil, fmt.Errorf("read device %s: %w", d, err)
		}
		still := false
		if d != id && state != StateRevoked {
			others, err := conflictPartners(ctx, tx, d, dev, now)
			if err != nil {
				return nil, err
			}
			still = len(others) > 0
		}
		changed, err := r.setConflictFlag(ctx, tx, d, still, now)
		if err != nil {
			return nil, err
		}
		if changed {
			lifted = append(lifted, d)
		}
	}
	return lifted, nil
}

// emitRegisterEvents turns the register history tx wrote into events (and
// webhook deliveries), as a report does.
func (r *Registry) emitRegisterEvents(ctx context.Context, tx *Tx) error {
	st := r.compState()
	_, err := r.registerEvents(ctx, tx, st)
	return err
}

// AllowReenroll pre-authorises a reinstall of the device ref names: the
// next enrolment matching it within the window continues its record
// (RuleAdminAllowed) even while it is alive. It returns the allowance's end.
func (r *Registry) AllowReenroll(ctx context.Context, ref string, within time.Duration, now time.Time) (Device, error) {
	if within < time.Minute || within > MaxReenrollAllowance {
		return Device{}, fmt.Errorf("allow re-enrolment: %w", ErrInvalid.Errorf("within %s: want a minute to %s", within, MaxReenrollAllowance))
	}
	now = now.UTC()
	var id string
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		if id, err = r.resolve(ctx, tx, ref); err != nil {
			return err
		}
		var merged string
		if err := tx.QueryRowContext(ctx, `SELECT merged_into FROM devices WHERE id = $1`, id).Scan(&merged); err != nil {
			return err
		}
		if merged != "" {
			return ErrInvalid.Errorf("device %s was merged into %s: allow the re-enrolment of %s instead", id, merged, merged)
		}
		until := now.Add(within)
		by := actorName(ctx)
		if _, err := tx.ExecContext(ctx, `INSERT INTO reenroll_allowances (device_id, until, created_at, created_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (device_id) DO UPDATE SET until = excluded.until, created_at = excluded.created_at, created_by = excluded.created_by`,
			id, fmtTime(until), fmtTime(now), by); err != nil {
			return fmt.Errorf("store reinstall allowance: %w", err)
		}
		return r.audit(ctx, tx, "device.reenroll_allowed", "device:"+id, map[string]any{"until": fmtTime(until), "within": within.String()})
	})
	if err != nil {
		return Device{}, fmt.Errorf("allow re-enrolment of %s: %w", ref, err)
	}
	return r.DeviceDetail(ctx, id)
}

// DeviceDetail is Device by id with the register and enrolment details.
func (r *Registry) DeviceDetail(ctx context.Context, id string) (Device, error) {
	d, err := r.deviceByID(ctx, r.db, id)
	if err != nil {
		return Device{}, err
	}
	if err := attachRegister(ctx, r.db, &d); err != nil {
		return Device{}, err
	}
	if d.SnapshotPurgedAt, err = snapshotPurgedAt(ctx, r.db, id); err != nil {
		return Device{}, err
	}
	return d, attachEnrolment(ctx, r.db, &d)
}

// ErrMergeConflict is a merge the records' state does not allow (409).
var ErrMergeConflict = fault.New(fault.Conflict, "conflict", "merge conflict")

// MergeResult is a merge's outcome (API keys): Device continues, Merged is
// the revoked record whose history it took over.
type MergeResult struct {
	Device Device `json:"device"`
	Merged Device `json:"merged"`
}

// MergeDevices resolves an identity conflict by declaring that newRef and
// intoRef are the same machine. A device certificate names its device id
// and the running agent holds the new record's, so the new record is the
// one that continues: it takes over the old record's history, asset link,
// exceptions and first-seen time; the old record is revoked and kept,
// naming the record that continues it (merged_into); the conflict flags
// are cleared. Finished wipes stay on the old record (they are evidence
// about it); a wipe still under way refuses the merge, because its command
// is bound to the old record's certificates.
func (r *Registry) MergeDevices(ctx context.Context, newRef, intoRef string, now time.Time) (MergeResult, error) {
	now = now.UTC()
	var keep, old string
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		if keep, err = r.resolve(ctx, tx, newRef); err != nil {
			return err
		}
		if old, err = r.resolve(ctx, tx, intoRef); err != nil {
			return err
		}
		if keep == old {
			return ErrInvalid.Errorf("%s and %s are the same device", newRef, intoRef)
		}
		var keepState, oldFirst, keepFirst, oldMerged, keepMerged string
		if err := tx.QueryRowContext(ctx, `SELECT state, first_seen, merged_into FROM devices WHERE id = $1`, keep).Scan(&keepState, &keepFirst, &keepMerged); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT first_seen, merged_into FROM devices WHERE id = $1`, old).Scan(&oldFirst, &oldMerged); err != nil {
			return err
		}
		switch {
		case keepState == StateRevoked:
			return ErrMergeConflict.Errorf("device %s is revoked; its agent cannot continue a record", keep)
		case keepMerged != "" || oldMerged != "":
			return ErrMergeConflict.Errorf("one of the devices was already merged")
		}
		var open string
		err = tx.QueryRowContext(ctx, `SELECT id FROM wipe_requests WHERE device_id = $1 AND state IN ($2, $3, $4) LIMIT 1`,
			old, WipeRequested, WipeDelivered, WipeInProgress).Scan(&open)
		switch {
		case err == nil:
			return ErrMergeConflict.Errorf("wipe %s is under way for %s; cancel it (or let it finish) before merging", open, old)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// The old record's history becomes the continuing record's.
		if _, err := tx.ExecContext(ctx, `UPDATE history SET device_id = $1 WHERE device_id = $2`, keep, old); err != nil {
			return fmt.Errorf("move history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE exceptions SET device_id = $1 WHERE device_id = $2`, keep, old); err != nil {
			return fmt.Errorf("move exceptions: %w", err)
		}
		// The old record's asset link follows the machine; the register
		// re-links the asset below in case a stronger match exists.
		var asset, how string
		err = tx.QueryRowContext(ctx, `SELECT asset_id, how FROM asset_links WHERE device_id = $1`, old).Scan(&asset, &how)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM asset_links WHERE device_id = $1`, keep); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE asset_links SET device_id = $1 WHERE device_id = $2`, keep, old); err != nil {
				return fmt.Errorf("move asset link: %w", err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if oldFirst < keepFirst {
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET first_seen = $1 WHERE id = $2`, oldFirst, keep); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM reenroll_allowances WHERE device_id = $1`, old); err != nil {
			return err
		}
		if err := revokeDevice(ctx, tx, old, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET merged_into = $1 WHERE id = $2`, keep, old); err != nil {
			return err
		}
		if err := insertHistory(ctx, tx, keep, now, 0, []deviceChange{{Kind: KindMerged, Subject: old, New: keep}}); err != nil {
			return err
		}
		if err := insertHistory(ctx, tx, old, now, 0, []deviceChange{{Kind: KindMerged, Subject: old, New: keep}}); err != nil {
			return err
		}
		if err := recordEnrolment(ctx, tx, keep, Enrolment{At: now, Rule: RuleMerged, MatchedDevice: old,
			Detail: "merged by " + actorName(ctx) + ": " + old + " continues as " + keep}); err != nil {
			return err
		}
		// The old record's conflicts go with it; the continuing record
		// keeps any it has with a third device.
		if _, err := r.clearConflicts(ctx, tx, old, now); err != nil {
			return err
		}
		if err := r.relinkDevice(ctx, tx, keep, now); err != nil {
			return err
		}
		if asset != "" {
			if err := r.resettleAsset(ctx, tx, asset, actorCollector, now); err != nil {
				return err
			}
		}
		if err := r.emitRegisterEvents(ctx, tx); err != nil {
			return err
		}
		return r.audit(ctx, tx, "device.merged", "device:"+keep, map[string]any{"merged": old, "continues_as": keep, "asset_link": asset})
	})
	if err != nil {
		return MergeResult{}, fmt.Errorf("merge %s into %s: %w", newRef, intoRef, err)
	}
	var res MergeResult
	if res.Device, err = r.DeviceDetail(ctx, keep); err != nil {
		return MergeResult{}, err
	}
	if res.Merged, err = r.DeviceDetail(ctx, old); err != nil {
		return MergeResult{}, err
	}
	return res, nil
}

// actorName is who the request's actor is, for records that keep a name.
func actorName(ctx context.Context) string {
	a := access.ActorFrom(ctx)
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}
