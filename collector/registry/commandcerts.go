package registry

// Which certificates a signed command may go to. A wipe command is issued
// for the certificates its device holds when the wipe is requested; a
// certificate issued to the same device since, by renewal or by a safe
// continuity (continuity.go), joins them. The command is delivered only
// to those, each delivery is recorded, and a status report from a
// certificate the command never went to is refused: an agent holding
// another certificate (an impostor's enrolment is another device in any
// case) can neither receive the command nor report it done. Each signing
// is capped at the configured command lifetime, so a command captured
// before a reinstall cannot be replayed once the agent's nonce journal is
// gone; a delivery after that expiry signs the command again.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/fault"
)

// ErrCommandNotDelivered refuses a command status from a certificate the
// command never went to (403).
var ErrCommandNotDelivered = fault.New(fault.Forbidden, "command_not_delivered", "command was not delivered to this certificate")

// Ways a certificate came to receive a command.
const (
	commandCertIssued  = "issued"
	commandCertRenewed = "renewed"
)

// addIssueCerts records, as a wipe is requested, the device's live
// certificates as the ones its command may go to.
func addIssueCerts(ctx context.Context, tx *Tx, wipeID, device string, now time.Time) error {
	if device == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO wipe_command_certs (wipe_id, serial, how, added_at)
		SELECT $1, serial, $2, $3 FROM certificates WHERE device_id = $4 AND revoked_at IS NULL AND not_after > $3`,
		wipeID, commandCertIssued, fmtTime(now), device)
	if err != nil {
		return fmt.Errorf("record command certificates: %w", err)
	}
	return nil
}

// openWipeStates are the states in which a command may still travel.
const openWipeStates = `('` + WipeRequested + `', '` + WipeDelivered + `', '` + WipeInProgress + `')`

// addCommandCert lets the commands still open for device go to serial,
// a certificate a safe continuity issued to it.
func addCommandCert(ctx context.Context, tx *Tx, device, serial, how string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO wipe_command_certs (wipe_id, serial, how, added_at)
		SELECT id, $1, $2, $3 FROM wipe_requests WHERE device_id = $4 AND method = $5 AND state IN `+openWipeStates+`
		ON CONFLICT (wipe_id, serial) DO NOTHING`,
		serial, how, fmtTime(now), device, WipeMethodAgent)
	if err != nil {
		return fmt.Errorf("record command certificate: %w", err)
	}
	return nil
}

// renewCommandCerts gives a renewed certificate what the old one had: the
// open commands it may receive, and those it did receive (an agent that
// renews in the middle of a wipe reports with the new certificate).
func renewCommandCerts(ctx context.Context, tx *Tx, oldSerial, newSerial string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO wipe_command_certs (wipe_id, serial, how, added_at, delivered_at)
		SELECT c.wipe_id, $1, $2, $3, c.delivered_at FROM wipe_command_certs c JOIN wipe_requests w ON w.id = c.wipe_id
		WHERE c.serial = $4 AND w.state IN `+openWipeStates+`
		ON CONFLICT (wipe_id, serial) DO NOTHING`,
		newSerial, commandCertRenewed, fmtTime(now), oldSerial)
	if err != nil {
		return fmt.Errorf("carry command certificates over to the renewed certificate: %w", err)
	}
	return nil
}

// deliverCommands keeps, of the commands pending for device, those that
// may go to the certificate serial, records their delivery to it, and
// signs each with its current issue time and capped expiry: the same
// payload while that signing is valid (the agent recognises a repeat by
// its digest), a fresh one after it expired.
func (r *Registry) deliverCommands(ctx context.Context, device, serial string, pending []PendingWipe, now time.Time) ([]PendingWipe, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	var out []PendingWipe
	err := r.Write(ctx, func(tx *Tx) error {
		out = out[:0]
		for _, p := range pending {
			var delivered, issued, expires sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT c.delivered_at, w.command_issued_at, w.command_expires_at
				FROM wipe_command_certs c JOIN wipe_requests w ON w.id = c.wipe_id
				WHERE c.wipe_id = $1 AND c.serial = $2 AND w.state = $3`, p.ID, serial, WipeRequested).Scan(&delivered, &issued, &expires)
			if errors.Is(err, sql.ErrNoRows) {
				// Not a certificate this command was issued for.
				continue
			}
			if err != nil {
				return fmt.Errorf("read command delivery: %w", err)
			}
			if !expires.Valid || !parseTime(expires.String).After(now) {
				exp := now.Add(r.commandCap())
				if p.ExpiresAt.Before(exp) {
					exp = p.ExpiresAt
				}
				issued = sql.NullString{String: fmtTime(now), Valid: true}
				expires = sql.NullString{String: fmtTime(exp), Valid: true}
				if _, err := tx.ExecContext(ctx, `UPDATE wipe_requests SET command_issued_at = $1, command_expires_at = $2 WHERE id = $3`,
					issued.String, expires.String, p.ID); err != nil {
					return fmt.Errorf("sign command: %w", err)
				}
			}
			if !delivered.Valid {
				if _, err := tx.ExecContext(ctx, `UPDATE wipe_command_certs SET delivered_at = $1 WHERE wipe_id = $2 AND serial = $3`,
					fmtTime(now), p.ID, serial); err != nil {
					return fmt.Errorf("record command delivery: %w", err)
				}
				if err := r.audit(ctx, tx, "wipe.command_sent", "wipe:"+p.ID, map[string]any{"device_id": device, "certificate": serial,
					"expires_at": expires.String}); err != nil {
					return err
				}
			}
			p.IssuedAt, p.ExpiresAt = parseTime(issued.String), parseTime(expires.String)
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliver commands: %w", err)
	}
	return out, nil
}

// checkCommandCert refuses, with an audit entry of its own, a status for
// wipe from a certificate its command never went to.
func (r *Registry) checkCommandCert(ctx context.Context, tx *Tx, wipeID, serial string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM wipe_command_certs WHERE wipe_id = $1 AND serial = $2 AND delivered_at IS NOT NULL`,
		wipeID, serial).Scan(&n); err != nil {
		return fmt.Errorf("check command delivery: %w", err)
	}
	if n > 0 {
		return nil
	}
	return ErrCommandNotDelivered.Errorf("command %s never went to certificate %s; only the certificate that received a command may report on it", wipeID, serial)
}

// auditRefusedStatus records a refused command status as denied.
func (r *Registry) auditRefusedStatus(ctx context.Context, in CommandStatusInput, err error) {
	if aerr := r.AuditOutside(ctx, "wipe.command_status", "wipe:"+in.Status.CommandID, audit.Denied,
		map[string]any{"device_id": in.DeviceID, "certificate": in.CertSerial, "status": in.Status.Status, "reason": err.Error()}); aerr != nil {
		r.logger.Error("audit refused command status", "command_id", in.Status.CommandID, "err", aerr)
	}
}

// reenrolBasis is what a verification by re-enrolment rests on, in words
// for the certificate of sanitisation.
func reenrolBasis(by, rule string, installed *time.Time, completed time.Time) []string {
	out := []string{"hardware identity self-reported by the newly enrolled agent (matched by " + orDefault(by, "unknown field") + ")"}
	if installed != nil {
		out = append(out, fmt.Sprintf("OS install date reported by the agent: %s, after the wipe at %s", fmtTime(*installed), fmtTime(completed)))
	} else {
		out = append(out, "no OS install date: the agent could not tell, so the fresh enrolment alone is the evidence")
	}
	why := map[string]string{
		RuleCertificatesRevoked: "every certificate of the device was revoked or expired (completing the wipe revoked them)",
		RuleSilent:              "the device had been silent longer than the re-enrolment window",
		RuleAdminAllowed:        "an admin pre-authorised the reinstall",
		RuleKeyProof:            "the agent proved possession of the device's earlier key",
	}[rule]
	if why == "" {
		why = "recorded before continuity rules existed"
	}
	return append(out, "continuity rule "+orDefault(rule, "unknown")+": "+why)
}

// verificationBasis is reenrolBasis for a wipe as stored (JSON list).
func verificationBasis(ctx context.Context, q querier, wipeID string, installed *time.Time, completed time.Time) (string, error) {
	var by, rule string
	if err := q.QueryRowContext(ctx, `SELECT reenrolled_by, reenrol_rule FROM wipe_requests WHERE id = $1`, wipeID).Scan(&by, &rule); err != nil {
		return "", fmt.Errorf("read re-enrolment of wipe %s: %w", wipeID, err)
	}
	b, err := json.Marshal(reenrolBasis(by, rule, installed, completed))
	return string(b), err
}
