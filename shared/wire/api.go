package wire

import (
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
