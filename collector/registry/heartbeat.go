package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// HeartbeatInput is a decoded heartbeat with the device and certificate
// serial taken from the verified client certificate.
type HeartbeatInput struct {
	DeviceID   string
	CertSerial string
	// AgentVersion replaces the stored one when not empty.
	AgentVersion string
	// LastHash is the hash of the agent's last acknowledged snapshot.
	LastHash string
	// SpoolDepth is how many reports wait on the agent; Transport the
	// protocol the heartbeat came over (HTTP/2.0, HTTP/3.0). Both are kept
	// as the agent's health.
	SpoolDepth int
	Transport  string
	Now        time.Time
}

// Heartbeat records that a device is alive: it moves last_seen to in.Now
// and updates agent_version, nothing else (no history, no snapshot). It
// answers resync when in.LastHash is not the stored hash, including when
// the device has not reported yet. Every agent calls it every few minutes,
// so it is one UPDATE that checks the certificate, writes the row and reads
// the stored hash at once; only a refused heartbeat costs a second query,
// to say why. commands says whether the device has wipe requests its
// check-in acts on (checkInWipes): only then need the caller ask
// WipeCheckIn, a query that cost more than the heartbeat's own write.
func (r *Registry) Heartbeat(ctx context.Context, in HeartbeatInput) (ack wire.HeartbeatAck, commands bool, err error) {
	var stored string
	// Heartbeats share transactions with reports and each other
	// (WriteGrouped): at 100,000 devices on a 5-minute schedule they
	// arrive ~330 a second.
	err = r.WriteGroupedStatement(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE devices
			SET last_seen = $1, agent_version = CASE WHEN $2 = '' THEN agent_version ELSE $2 END,
				agent_spool_depth = $3, agent_transport = $4, agent_heartbeat_at = $1
			WHERE id = $5 AND state <> $6
				AND EXISTS (SELECT 1 FROM certificates c WHERE c.serial = $7 AND c.device_id = devices.id AND c.revoked_at IS NULL)
			RETURNING last_hash, EXISTS (SELECT 1 FROM wipe_requests w WHERE w.device_id = devices.id AND `+checkInWipes+`)`,
			fmtTime(in.Now), in.AgentVersion, in.SpoolDepth, in.Transport, in.DeviceID, StateRevoked, in.CertSerial).Scan(&stored, &commands)
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing was written: the certificate or the device is unknown or
		// revoked. checkCert names which; a certificate that passes it now
		// was revoked a moment ago, or the device was re-enrolled.
		if err = checkCert(ctx, r.db, in.DeviceID, in.CertSerial); err == nil {
			err = fmt.Errorf("certificate %s: %w", in.CertSerial, ErrCertificateRevoked)
		}
	}
	if err != nil {
		return wire.HeartbeatAck{}, false, fmt.Errorf("record heartbeat: %w", err)
	}
	ack = wire.HeartbeatAck{Status: wire.HeartbeatOK, DeviceID: in.DeviceID}
	if stored == "" || stored != in.LastHash {
		ack.Status = wire.HeartbeatResync
	}
	return ack, commands, nil
}
