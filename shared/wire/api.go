package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Identity is the hardware identity an agent presents at enrolment and that
// every full report carries inside its snapshot. The collector matches
// devices on it (normalised serial, then system UUID, then MACs).
type Identity struct {
	Hostname     string   `json:"hostname,omitempty"`
	Platform     string   `json:"platform"`
	SystemSerial string   `json:"system_serial,omitempty"`
	SystemUUID   string   `json:"system_uuid,omitempty"`
	BoardSerial  string   `json:"board_serial,omitempty"`
	MACs         []string `json:"macs,omitempty"`
}

// IdentityOf extracts the identity from a snapshot.
func IdentityOf(s *Snapshot) Identity {
	id := Identity{Platform: s.Platform}
	if hw := s.Hardware; hw != nil {
		id.Hostname = hw.Hostname
		id.SystemSerial = hw.SystemSerial
		id.SystemUUID = hw.SystemUUID
		id.BoardSerial = hw.BoardSerial
		for _, n := range hw.NICs {
			id.MACs = append(id.MACs, n.MAC)
		}
		slices.Sort(id.MACs)
		id.MACs = slices.Compact(id.MACs)
	}
	return id
}

// EnrollRequest is POST /api/v1/enroll. The agent made the key pair; only
// the CSR (PEM, ECDSA P-256) leaves the device.
type EnrollRequest struct {
	Secret       string   `json:"secret"`
	CSR          string   `json:"csr"`
	Identity     Identity `json:"identity"`
	AgentVersion string   `json:"agent_version,omitempty"`
	// Proof, sent when the agent re-enrols from a state directory that
	// still holds an earlier enrolment, proves it holds that enrolment's
	// key, so the collector may continue the device record (additive).
	Proof *EnrollProof `json:"proof,omitempty"`
}

// EnrollProof is proof of possession of an earlier device key: the old
// client certificate and an ECDSA signature (ASN.1, base64) made with its
// key over EnrollProofMessage for the new CSR's public key, the old
// certificate's device id and Timestamp. There is no challenge: the
// signature binds the new key, so it is worth nothing to anyone without
// that key, and the collector refuses a Timestamp far from its clock.
type EnrollProof struct {
	// Certificate is the earlier client certificate (PEM).
	Certificate string    `json:"certificate"`
	Timestamp   time.Time `json:"timestamp"`
	Signature   string    `json:"signature"`
}

// EnrollProofMessage is what an EnrollProof signs (SHA-256, then ECDSA):
// a fixed label, the SHA-256 of the new CSR's public key (DER
// SubjectPublicKeyInfo), the device id and the timestamp in RFC 3339 UTC.
func EnrollProofMessage(newPublicKeyDER []byte, deviceID string, ts time.Time) []byte {
	sum := sha256.Sum256(newPublicKeyDER)
	return []byte("roster-enrol-proof-v1\n" + hex.EncodeToString(sum[:]) + "\n" + deviceID + "\n" + ts.UTC().Format(time.RFC3339) + "\n")
}

// EnrollResponse carries the device id and the signed client certificate.
type EnrollResponse struct {
	DeviceID string `json:"device_id"`
	// Certificate is the client certificate (PEM); CA is the collector's CA
	// certificate (PEM) that signed it and the server certificate.
	Certificate string    `json:"certificate"`
	CA          string    `json:"ca"`
	NotAfter    time.Time `json:"not_after"`
	// ReEnrolled is true when the hardware identity matched an existing
	// device record, whose history this enrolment continues.
	ReEnrolled bool `json:"re_enrolled,omitempty"`
	// CommandKey is the collector's Ed25519 command-signing public key,
	// base64 (standard, padded); the agent keeps it to verify commands.
	CommandKey string `json:"command_key,omitempty"`
	// Rule is how the collector decided (additive): new, conflict (a new
	// record in identity conflict with a live device, for an admin to
	// resolve), or the continuity rule that continued the record
	// (certificates_revoked, silent, admin_allowed, key_proof).
	Rule string `json:"rule,omitempty"`
	// ProtocolVersion is the highest protocol version the collector
	// speaks, as in Ack.
	ProtocolVersion int `json:"protocol_version,omitempty"`
}

// RenewRequest is POST /api/v1/agent/renew (mTLS with the current
// certificate): a new CSR for a new key.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse carries the new certificate.
type RenewResponse struct {
	Certificate string    `json:"certificate"`
	NotAfter    time.Time `json:"not_after"`
}

// ErrorBody is every API error: {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError codes are stable snake_case words; messages are for people.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
