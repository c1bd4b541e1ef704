package registry

// After a restore: a backup is a moment, and agents went on after it. A
// device that enrolled, or renewed its certificate, after the backup was
// taken holds a certificate this collector's CA signed but the restored
// database has never seen; checkCert would refuse it for ever and the agent
// would stop reporting until someone enrolled it again by hand. So
// `roster-collector restore` records the restore (RecordRestore), and for
// as long as a certificate issued before the restore can still be valid,
// the API hands every verified client certificate to AdoptAfterRestore: a
// certificate the database does not know, issued between the backup and
// the restore, is adopted (its device record recreated if the backup
// predates the enrolment), recorded in the device's history and the audit
// log, and the device's next report is answered with a resync, which
// brings its full inventory back (the sequence/hash protocol).
//
// What this cannot bring back: a certificate or device revoked after the
// backup was taken is live again, because the revocation is not in the
// backup (docs/backup.md says to revoke those again from the audit log
// kept elsewhere). A certificate issued outside the window (before the
// backup, so the backup should know it, or after the restore) is never
// adopted.

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rosterhq/roster/collector/access"
)

// RestoreRecord is one restore of a backup into this database.
type RestoreRecord struct {
	// BackupCreatedAt is when the backup's database copy was taken.
	BackupCreatedAt time.Time
	RestoredAt      time.Time
	// File is the backup file's name; By who restored it.
	File, By string
}

// Adoption bounds. A client certificate's NotBefore is its issue time
// less 5 minutes (pki.SignClient), so one issued after the backup's
// snapshot has NotBefore after BackupCreatedAt-5m; restoreSkew adds margin
// for a backup whose manifest time was taken a little after its copy.
// adoptWindow is how long after a restore a certificate issued before it
// can still be presented: longer than pki.ClientValidity (90 days).
const (
	restoreSkew = 15 * time.Minute
	adoptWindow = 100 * 24 * time.Hour
)

// restoreState caches the restores table (loaded once; RecordRestore runs
// in another process, before the collector that serves the restored
// database starts) and the certificate serials already known, so that the
// check costs one lookup per certificate, not one per request.
type restoreState struct {
	once     sync.Once
	err      error
	restores []RestoreRecord
	known    sync.Map // serial -> struct{}
}

// RecordRestore records that a backup was installed into this database,
// with its audit entry (backup.restored, detail as given), in one
// transaction.
func (r *Registry) RecordRestore(ctx context.Context, rec RestoreRecord, detail any) error {
	err := r.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO restores (backup_created_at, restored_at, file, restored_by) VALUES ($1, $2, $3, $4)`,
			fmtTime(rec.BackupCreatedAt), fmtTime(rec.RestoredAt), rec.File, rec.By); err != nil {
			return err
		}
		return r.audit(ctx, tx, "backup.restored", rec.File, detail)
	})
	if err != nil {
		return fmt.Errorf("record restore: %w", err)
	}
	return nil
}

// Restores lists the restores recorded in this database, oldest first.
func (r *Registry) Restores(ctx context.Context) ([]RestoreRecord, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT backup_created_at, restored_at, file, restored_by FROM restores ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read restores: %w", err)
	}
	defer rows.Close()
	var out []RestoreRecord
	for rows.Next() {
		var b, at string
		var rec RestoreRecord
		if err := rows.Scan(&b, &at, &rec.File, &rec.By); err != nil {
			return nil, fmt.Errorf("read restores: %w", err)
		}
		rec.BackupCreatedAt, rec.RestoredAt = parseTime(b), parseTime(at)
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read restores: %w", err)
	}
	return out, nil
}

// adoptable says whether a certificate issued at notBefore falls between
// a backup and its restore, while such a certificate can still be valid.
func adoptable(restores []RestoreRecord, notBefore, now time.Time) bool {
	for _, rec := range restores {
		if now.Sub(rec.RestoredAt) > adoptWindow {
			continue
		}
		if !notBefore.Before(rec.BackupCreatedAt.Add(-restoreSkew)) && !notBefore.After(rec.RestoredAt) {
			return true
		}
	}
	return false
}

// AdoptAfterRestore adopts cert, already verified against this collector's
// CA and naming device, when the database does not know it and it was
// issued between a recorded backup and its restore (see the file comment).
// It reports whether it adopted. On a collector never restored it costs
// nothing after the first call.
func (r *Registry) AdoptAfterRestore(ctx context.Context, device string, cert *x509.Certificate, now time.Time) (bool, error) {
	st := &r.restore
	st.once.Do(func() {
		st.restores, st.err = r.Restores(ctx)
	})
	if st.err != nil {
		return false, st.err
	}
	if len(st.restores) == 0 || !adoptable(st.restores, cert.NotBefore, now) {
		return false, nil
	}
	serial := certSerial(cert)
	if _, ok := st.known.Load(serial); ok {
		return false, nil
	}
	adopted := false
	err := r.Write(ctx, func(tx *Tx) error {
		adopted = false
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT device_id FROM certificates WHERE serial = $1`, serial).Scan(&owner)
		switch {
		case err == nil:
			return nil // known: checkCert decides, as always
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var exists int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE id = $1`, device).Scan(&exists)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Enrolled after the backup: the record comes back empty and
			// its first report (answered with a resync) fills it.
			ts := fmtTime(cert.NotBefore)
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, agent_version, state, first_seen, last_seen, enrolled_at, num)
				VALUES ($1, '', '', '', $2, $3, $3, $3, `+r.dia.newDeviceNum()+`)`, device, StateActive, ts); err != nil {
				return fmt.Errorf("recreate device: %w", err)
			}
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES ($1, $2, $3, $4)`,
			serial, device, fmtTime(cert.NotBefore), fmtTime(cert.NotAfter)); err != nil {
			return fmt.Errorf("adopt certificate: %w", err)
		}
		if err := insertHistory(ctx, tx, device, now, 0, []deviceChange{{Kind: KindRecoveredAfterRestore, Subject: serial}}); err != nil {
			return err
		}
		adopted = true
		actx := access.WithActor(ctx, access.Actor{Principal: access.Principal{ID: device, Name: "device " + device, Kind: access.KindDevice}, Source: access.ActorFrom(ctx).Source})
		return r.audit(actx, tx, "device.recovered_after_restore", device, map[string]any{
			"serial": serial, "issued": cert.NotBefore.UTC().Format(time.RFC3339), "new_record": exists == 0,
		})
	})
	if err != nil {
		return false, fmt.Errorf("adopt certificate after restore: %w", err)
	}
	st.known.Store(serial, struct{}{})
	if adopted {
		r.logger.Warn("certificate issued after the restored backup adopted", "device", device, "serial", serial)
	}
	return adopted, nil
}
