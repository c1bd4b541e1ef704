package registry

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// ErrBadCSR wraps a certificate request the signer refused.
var ErrBadCSR = fault.New(fault.Invalid, "bad_csr", "bad certificate request")

// Signer issues a client certificate for a device id (pki.CA.SignClient
// with the request's CSR bound in).
type Signer func(deviceID string) (certPEM []byte, cert *x509.Certificate, err error)

// EnrollInput is an enrolment request after decoding.
type EnrollInput struct {
	Secret       string
	Identity     wire.Identity
	AgentVersion string
	// Proof is the agent's verified proof of possession of an earlier
	// certificate's key (nil: none offered).
	Proof *KeyProof
	Now   time.Time
}

// EnrollResult is what the agent is told.
type EnrollResult struct {
	DeviceID   string
	CertPEM    []byte
	NotAfter   time.Time
	ReEnrolled bool
	// Rule is the enrolment rule (RuleNew, RuleConflict, or the
	// continuity rule that let the record continue).
	Rule string
	// Conflicts are the live devices a RuleConflict enrolment matched.
	Conflicts []string
}

// Enroll consumes one use of the secret, decides by hardware identity and
// the continuity rules (continuity.go) whether the enrolment continues a
// device or starts a new one, and records the certificate sign issues, the
// enrolment's secret and rule, and an audit entry, all in one transaction:
// a refused secret or CSR leaves no trace. A match with a live device is
// never a takeover: it is a new record, and both are flagged
// identity_conflict.
func (r *Registry) Enroll(ctx context.Context, in EnrollInput, sign Signer) (EnrollResult, error) {
	var res EnrollResult
	now := in.Now.UTC()
	err := r.Write(ctx, func(tx *Tx) error {
		res = EnrollResult{} // a retried run decides afresh
		if err := useSecret(ctx, tx, in.Secret, now); err != nil {
			return err
		}
		secretID, secretLabel, err := secretOf(ctx, tx, in.Secret)
		if err != nil {
			return fmt.Errorf("read enrolment secret: %w", err)
		}
		id := normaliseIdentity(in.Identity)
		ids, by, err := findCandidates(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("match identity: %w", err)
		}
		cands, err := loadCandidates(ctx, tx, ids, in.Proof, now)
		if err != nil {
			return err
		}
		dec := decideContinuity(cands, now, r.silenceWindow())
		if in.Proof != nil && dec.rule != RuleKeyProof {
			dec.detail += fmt.Sprintf("; the key proof for device %s was not used (not a current certificate of a matched device)", in.Proof.DeviceID)
		}
		ts := fmtTime(now)
		hostname := identity.Clean(in.Identity.Hostname)
		dev := dec.device
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
			if dec.rule == RuleAdminAllowed {
				if _, err := tx.ExecContext(ctx, `DELETE FROM reenroll_allowances WHERE device_id = $1`, dev); err != nil {
					return err
				}
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
			if err := insertHistory(ctx, tx, dev, now, 0, []deviceChange{{Kind: KindReEnrolled, Subject: string(by), Old: dec.rule, New: in.AgentVersion}}); err != nil {
				return err
			}
			if err := r.restoreToCompliance(ctx, tx, dev, now); err != nil {
				return err
			}
			if err := wipeReEnrolled(ctx, tx, dev, string(by), dec.rule, now); err != nil {
				return err
			}
		} else {
			dev = uuid.NewString()
			_, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, system_serial, system_uuid, board_serial, macs,
				agent_version, state, first_seen, last_seen, enrolled_at, num) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, `+r.dia.newDeviceNum()+`)`,
				dev, hostname, in.Identity.Platform, id.Serial, id.UUID, id.Board, id.MACs, in.AgentVersion, StateActive, ts)
			if err != nil {
				return err
			}
			if err := insertHistory(ctx, tx, dev, now, 0, []deviceChange{{Kind: KindEnrolled, New: in.AgentVersion}}); err != nil {
				return err
			}
		}
		if err := syncDeviceSearchKeys(ctx, tx, dev); err != nil {
			return err
		}
		certPEM, cert, err := sign(dev)
		if err != nil {
			return ErrBadCSR.Errorf("bad certificate request: %w", err)
		}
		if err := insertCert(ctx, tx, dev, cert, now); err != nil {
			return err
		}
		serial := certSerial(cert)
		if res.ReEnrolled {
			// A wipe still waiting for the device may go to the
			// certificate a safe continuity issued.
			if err := addCommandCert(ctx, tx, dev, serial, "re_enrolled:"+dec.rule, now); err != nil {
				return err
			}
		}
		matched := dec.device
		if dec.rule == RuleConflict {
			matched = strings.Join(dec.conflicts, ",")
			if err := r.enrolConflict(ctx, tx, dev, dec.conflicts, by, now); err != nil {
				return err
			}
		}
		if err := recordEnrolment(ctx, tx, dev, Enrolment{At: now, SecretID: secretID, SecretLabel: secretLabel, Rule: dec.rule,
			MatchedBy: string(by), MatchedDevice: matched, CertSerial: serial, Detail: dec.detail}); err != nil {
			return err
		}
		action := "device.enrolled"
		if res.ReEnrolled {
			action = "device.re_enrolled"
		}
		// The enrolling agent holds no credential yet but the secret: the
		// entry names the device it became and the secret it used.
		actx := ctx
		if a := access.ActorFrom(ctx); a.ID == "" || a.Kind == access.KindCollector {
			a.Principal = access.Principal{ID: dev, Name: "enrolment with secret " + secretLabel, Kind: access.KindDevice}
			actx = access.WithActor(ctx, a)
		}
		if err := r.audit(actx, tx, action, "device:"+dev, map[string]any{"secret_id": secretID, "secret_label": secretLabel,
			"rule": dec.rule, "matched_by": string(by), "matched_device": matched, "certificate": serial, "detail": dec.detail}); err != nil {
			return err
		}
		if dec.rule == RuleConflict {
			if err := r.audit(actx, tx, "device.identity_conflict", "device:"+dev, map[string]any{"conflicts_with": dec.conflicts, "matched_by": string(by)}); err != nil {
				return err
			}
		}
		res.DeviceID, res.CertPEM, res.NotAfter, res.Rule, res.Conflicts = dev, certPEM, cert.NotAfter.UTC(), dec.rule, dec.conflicts
		return nil
	})
	if err != nil {
		return EnrollResult{}, fmt.Errorf("enrol: %w", err)
	}
	return res, nil
}

// enrolConflict records a conflicting enrolment: the new record dev and
// every live device it matched are flagged identity_conflict, each with
// an identity_conflict event naming the other and the register's flag
// (and its webhook event), and the pairs stay until a person resolves
// them.
func (r *Registry) enrolConflict(ctx context.Context, tx *Tx, dev string, others []string, by matchBy, now time.Time) error {
	ts := fmtTime(now)
	for _, o := range others {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identity_conflicts (device_id, other_id, matched_by, since) VALUES ($1, $2, $3, $4)
			ON CONFLICT (device_id, other_id) DO NOTHING`, dev, o, string(by), ts); err != nil {
			return fmt.Errorf("record identity conflict: %w", err)
		}
		if err := insertHistory(ctx, tx, dev, now, 0, []deviceChange{{Kind: KindIdentityConflict, Subject: o}}); err != nil {
			return err
		}
		if err := insertHistory(ctx, tx, o, now, 0, []deviceChange{{Kind: KindIdentityConflict, Subject: dev}}); err != nil {
			return err
		}
	}
	for _, d := range append([]string{dev}, others...) {
		if _, err := r.setConflictFlag(ctx, tx, d, true, now); err != nil {
			return err
		}
	}
	return r.emitRegisterEvents(ctx, tx)
}

func insertCert(ctx context.Context, tx *Tx, dev string, cert *x509.Certificate, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES ($1, $2, $3, $4)`,
		certSerial(cert), dev, fmtTime(now), fmtTime(cert.NotAfter))
	return err
}

// certSerial is the stored form, the same as pki.SerialHex.
func certSerial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber.Bytes()) }

// checkCert refuses a certificate that is unknown, revoked or belongs to a
// revoked device.
func checkCert(ctx context.Context, q querier, device, serial string) error {
	var revoked, state sql.NullString
	// The device's state as a subquery, not a join: SQLite runs the
	// statement in about a fifth of the time (reportComplianceInputs).
	err := q.QueryRowContext(ctx, `SELECT c.revoked_at, (SELECT d.state FROM devices d WHERE d.id = c.device_id) FROM certificates c
		WHERE c.serial = $1 AND c.device_id = $2`, serial, device).Scan(&revoked, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return certRefusal(device, serial, false, false, "")
	case err != nil:
		return fmt.Errorf("check certificate: %w", err)
	}
	return certRefusal(device, serial, state.Valid, revoked.Valid, state.String)
}

// certRefusal is checkCert's decision, from whether serial is on record
// as a certificate of device (known, which needs the device too), whether
// it is revoked and the device's state.
func certRefusal(device, serial string, known, revoked bool, state string) error {
	switch {
	case !known:
		return fmt.Errorf("certificate %s unknown for device %s: %w", serial, device, ErrCertificateRevoked)
	case revoked || state == StateRevoked:
		return fmt.Errorf("certificate %s: %w", serial, ErrCertificateRevoked)
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
	err = r.Write(ctx, func(tx *Tx) error {
		if err := checkCert(ctx, tx, device, serial); err != nil {
			return err
		}
		p, cert, err := sign(device)
		if err != nil {
			return ErrBadCSR.Errorf("bad certificate request: %w", err)
		}
		if err := insertCert(ctx, tx, device, cert, now); err != nil {
			return err
		}
		if err := renewCommandCerts(ctx, tx, serial, certSerial(cert), now); err != nil {
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
// Revoking one side of an identity conflict resolves it: the conflict
// flags are cleared from both.
func (r *Registry) RevokeDevice(ctx context.Context, ref string, now time.Time) (Device, error) {
	var d Device
	err := r.Write(ctx, func(tx *Tx) error {
		id, err := r.resolve(ctx, tx, ref)
		if err != nil {
			return err
		}
		if err := revokeDevice(ctx, tx, id, now); err != nil {
			return err
		}
		lifted, err := r.clearConflicts(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if len(lifted) > 0 {
			if err := r.emitRegisterEvents(ctx, tx); err != nil {
				return err
			}
		}
		if err := r.audit(ctx, tx, "device.revoked", "device:"+id, map[string]any{"identity_conflict_cleared": lifted}); err != nil {
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
func revokeDevice(ctx context.Context, tx *Tx, id string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT serial FROM certificates WHERE device_id = $1 AND revoked_at IS NULL ORDER BY issued_at`, id)
	if err != nil {
		return err
	}
	var evs []deviceChange
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, deviceChange{Kind: KindCertificateRevoked, Subject: s})
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
	if err := removeFromCompliance(ctx, tx, id, now); err != nil {
		return err
	}
	return insertHistory(ctx, tx, id, now, 0, evs)
}
