package registry

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// ErrBadCSR wraps a certificate request the signer refused.
var ErrBadCSR = errors.New("bad certificate request")

// Signer issues a client certificate for a device id (pki.CA.SignClient
// with the request's CSR bound in).
type Signer func(deviceID string) (certPEM []byte, cert *x509.Certificate, err error)

// EnrollInput is an enrolment request after decoding.
type EnrollInput struct {
	Secret       string
	Identity     wire.Identity
	AgentVersion string
	Now          time.Time
}

// EnrollResult is what the agent is told.
type EnrollResult struct {
	DeviceID   string
	CertPEM    []byte
	NotAfter   time.Time
	ReEnrolled bool
}

// Enroll consumes one use of the secret, finds or creates the device by
// hardware identity and records the certificate sign issues, all in one
// transaction: a refused secret or CSR leaves no trace.
func (r *Registry) Enroll(ctx context.Context, in EnrollInput, sign Signer) (EnrollResult, error) {
	var res EnrollResult
	now := in.Now.UTC()
	err := r.write(ctx, func(tx *sql.Tx) error {
		if err := useSecret(ctx, tx, in.Secret, now); err != nil {
			return err
		}
		id := normaliseIdentity(in.Identity)
		dev, by, err := findMatch(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("match identity: %w", err)
		}
		ts := fmtTime(now)
		hostname := identity.Clean(in.Identity.Hostname)
		if dev != "" {
			res.ReEnrolled = true
			// The reinstalled agent starts its sequence again, and the old
			// agent's certificates are revoked so its spool cannot replay.
			if _, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL`, ts, dev); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM reports_applied WHERE device_id = $1`, dev); err != nil {
				return err
			}
			var flags string
			if err := tx.QueryRowContext(ctx, `SELECT flags FROM devices WHERE id = $1`, dev).Scan(&flags); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE devices SET
				hostname = CASE WHEN $1 <> '' THEN $1 ELSE hostname END,
				platform = CASE WHEN $2 <> '' THEN $2 ELSE platform END,
				system_serial = CASE WHEN $3 <> '' THEN $3 ELSE system_serial END,
				system_uuid = CASE WHEN $4 <> '' THEN $4 ELSE system_uuid END,
				board_serial = CASE WHEN $5 <> '' THEN $5 ELSE board_serial END,
				macs = CASE WHEN $6 <> '' THEN $6 ELSE macs END,
				agent_version = $7, state = $8, enrolled_at = $9, last_seen = $9, last_seq = 0
				WHERE id = $10`,
				hostname, in.Identity.Platform, id.Serial, id.UUID, id.Board, id.MACs, in.AgentVersion, stateFor(false, flags), ts, dev)
			if err != nil {
				return err
			}
			if err := insertEvents(ctx, tx, dev, now, 0, []event{{Kind: KindReEnrolled, Subject: string(by), New: in.AgentVersion}}); err != nil {
				return err
			}
			if err := wipeReEnrolled(ctx, tx, dev, string(by), now); err != nil {
				return err
			}
		} else {
			dev = uuid.NewString()
			_, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, system_serial, system_uuid, board_serial, macs,
				agent_version, state, first_seen, last_seen, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)`,
				dev, hostname, in.Identity.Platform, id.Serial, id.UUID, id.Board, id.MACs, in.AgentVersion, StateActive, ts)
			if err != nil {
				return err
			}
			if err := insertEvents(ctx, tx, dev, now, 0, []event{{Kind: KindEnrolled, New: in.AgentVersion}}); err != nil {
				return err
			}
		}
		certPEM, cert, err := sign(dev)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadCSR, err)
		}
		if err := insertCert(ctx, tx, dev, cert, now); err != nil {
			return err
		}
		res.DeviceID, res.CertPEM, res.NotAfter = dev, certPEM, cert.NotAfter.UTC()
		return nil
	})
	if err != nil {
		return EnrollResult{}, fmt.Errorf("enrol: %w", err)
	}
	return res, nil
}

func insertCert(ctx context.Context, tx *sql.Tx, dev string, cert *x509.Certificate, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES ($1, $2, $3, $4)`,
		certSerial(cert), dev, fmtTime(now), fmtTime(cert.NotAfter))
	return err
}

// certSerial is the stored form, the same as pki.SerialHex.
func certSerial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber.Bytes()) }

// checkCert refuses a certificate that is unknown, revoked or belongs to a
// revoked device.
func checkCert(ctx context.Context, q querier, device, serial string) error {
	var revoked sql.NullString
	var state string
	err := q.QueryRowContext(ctx, `SELECT c.revoked_at, d.state FROM certificates c JOIN devices d ON d.id = c.device_id WHERE c.serial = $1 AND c.device_id = $2`, serial, device).
		Scan(&revoked, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: serial %s unknown for device %s", ErrCertificateRevoked, serial, device)
	case err != nil:
		return fmt.Errorf("check certificate: %w", err)
	case revoked.Valid || state == StateRevoked:
		return fmt.Errorf("%w: serial %s", ErrCertificateRevoked, serial)
	}
	return nil
}

// CheckCertificate returns ErrCertificateRevoked unless serial is a current
// certificate of device. The TLS layer has already verified the chain.
func (r *Registry) CheckCertificate(ctx context.Context, device, serial string) error {
	return checkCert(ctx, r.db, device, serial)
}

// Renew issues a new certificate to the device presenting serial. The old
// certificate stays valid until it expires.
func (r *Registry) Renew(ctx context.Context, device, serial string, now time.Time, sign Signer) (certPEM []byte, notAfter time.Time, err error) {
	err = r.write(ctx, func(tx *sql.Tx) error {
		if err := checkCert(ctx, tx, device, serial); err != nil {
			return err
		}
		p, cert, err := sign(device)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadCSR, err)
		}
		if err := insertCert(ctx, tx, device, cert, now); err != nil {
			return err
		}
		certPEM, notAfter = p, cert.NotAfter.UTC()
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("renew certificate: %w", err)
	}
	return certPEM, notAfter, nil
}

// RevokeDevice revokes every certificate of a device and marks it revoked.
func (r *Registry) RevokeDevice(ctx context.Context, ref string, now time.Time) (Device, error) {
	var d Device
	err := r.write(ctx, func(tx *sql.Tx) error {
		id, err := r.resolve(ctx, tx, ref)
		if err != nil {
			return err
		}
		if err := revokeDevice(ctx, tx, id, now); err != nil {
			return err
		}
		d, err = r.deviceByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return Device{}, fmt.Errorf("revoke device %s: %w", ref, err)
	}
	return d, nil
}

// revokeDevice revokes the device's certificates inside tx (also when a
// wipe completes).
func revokeDevice(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT serial FROM certificates WHERE device_id = $1 AND revoked_at IS NULL ORDER BY issued_at`, id)
	if err != nil {
		return err
	}
	var evs []event
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, event{Kind: KindCertificateRevoked, Subject: s})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ts := fmtTime(now)
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL`, ts, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET state = $1 WHERE id = $2`, StateRevoked, id); err != nil {
		return err
	}
	return insertEvents(ctx, tx, id, now, 0, evs)
}
