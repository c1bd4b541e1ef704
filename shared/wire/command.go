package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Commands the collector asks an agent to carry out. They travel in the
// report and heartbeat acks, signed with the collector's command-signing
// key (Ed25519; the public key reaches the agent at enrolment as
// EnrollResponse.CommandKey), and are bound to one device, a nonce and an
// expiry. An agent verifies all of it before acting.

// Command kinds.
const (
	CommandWipe = "wipe"
)

// Command is what the collector signs.
type Command struct {
	// ID is the request's id (for a wipe, the wipe request id).
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	DeviceID string    `json:"device_id"`
	Nonce    string    `json:"nonce"`
	IssuedAt time.Time `json:"issued_at"`
	// ExpiresAt: an agent refuses the command after it.
	ExpiresAt time.Time    `json:"expires_at"`
	Wipe      *WipeCommand `json:"wipe,omitempty"`
}

// WipeCommand asks for a cryptographic erase of the device's configured
// targets (the agent's own config decides what may be wiped).
type WipeCommand struct {
	Method string `json:"method"` // "crypto_erase"
	Ticket string `json:"ticket,omitempty"`
}

// SignedCommand carries the exact signed bytes: the agent verifies the
// signature over Payload, then decodes Payload into a Command.
type SignedCommand struct {
	Payload json.RawMessage `json:"payload"`
	// Signature is base64 (standard, padded) Ed25519 over Payload.
	Signature string `json:"signature"`
	// KeyID names the signing key (see KeyID).
	KeyID string `json:"key_id"`
}

// KeyID names a command-signing key as SignedCommand and
// SignedCertificate carry it: "ed25519:" + hex of the first 8 bytes of
// SHA-256 of the public key. The collector names its key with it and the
// agent and rosterctl check a signature's key against it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// SignedCertificate is the JSON certificate of sanitisation that
// GET /api/v1/wipes/{id}/certificate answers and rosterctl verifies:
// Signature is base64 Ed25519, with the command-signing key named by
// KeyID, over the compact encoding of Certificate (json.Compact of its
// bytes, keys in the order given), so re-indenting the file does not
// break it but changing any value does.
type SignedCertificate struct {
	Certificate json.RawMessage `json:"certificate"`
	Signature   string          `json:"signature"`
	KeyID       string          `json:"key_id"`
}

// Command statuses an agent reports.
const (
	CommandDelivered    = "delivered"
	CommandInProgress   = "in_progress"
	CommandCompleted    = "completed"
	CommandFailed       = "failed"
	CommandRefused      = "refused"
	CommandNotSupported = "not_supported"
)

// CommandStatus is POST /api/v1/agent/commands/status (mTLS): how the agent
// is getting on with a command. Reported at each step; the collector keeps
// every transition.
type CommandStatus struct {
	CommandID string    `json:"command_id"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	// Reason explains failed, refused and not_supported.
	Reason   string        `json:"reason,omitempty"`
	Evidence *WipeEvidence `json:"evidence,omitempty"`
}

// WipeEvidence is what an agent records of a cryptographic erase.
type WipeEvidence struct {
	// Method: "NIST SP 800-88 purge: cryptographic erase".
	Method      string        `json:"method"`
	Tool        string        `json:"tool"`
	ToolVersion string        `json:"tool_version,omitempty"`
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	Hostname    string        `json:"hostname,omitempty"`
	Volumes     []WipedVolume `json:"volumes"`
}

// Wiped-volume results.
const (
	WipeErased = "erased"
	WipeFailed = "failed"
)

// WipedVolume is one target's erase.
type WipedVolume struct {
	Device      string `json:"device"`
	MountPoint  string `json:"mount_point,omitempty"`
	LUKSVersion int    `json:"luks_version"`
	LUKSUUID    string `json:"luks_uuid"`
	// Keyslots active before and after (verified by reading the header back).
	KeyslotsBefore int `json:"keyslots_before"`
	KeyslotsAfter  int `json:"keyslots_after"`
	// HeaderBackups lists header backup files the agent overwrote.
	HeaderBackups []string  `json:"header_backups,omitempty"`
	Result        string    `json:"result"`
	Reason        string    `json:"reason,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
}
