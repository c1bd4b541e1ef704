package apitypes

// Offboarding: wipes and their lifecycle.

import "time"

// Wipe is an offboarding wipe with its lifecycle and evidence.
type Wipe struct {
	ID             string           `json:"id"`
	DeviceID       string           `json:"device_id"`
	AssetID        string           `json:"asset_id"`
	AssetTag       string           `json:"asset_tag"`
	Hostname       string           `json:"hostname"`
	Vendor         string           `json:"vendor"`
	Model          string           `json:"model"`
	SystemSerial   string           `json:"system_serial"`
	Classification string           `json:"classification"`
	Ticket         string           `json:"ticket"`
	Reason         string           `json:"reason"`
	Method         string           `json:"method"`
	Reuse          bool             `json:"reuse"`
	State          string           `json:"state"`
	IssuedAt       time.Time        `json:"issued_at"`
	Deadline       time.Time        `json:"deadline"`
	CreatedBy      string           `json:"created_by"`
	CreatedByID    string           `json:"created_by_id"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	CompletedAt    *time.Time       `json:"completed_at"`
	VerifiedAt     *time.Time       `json:"verified_at"`
	FailureReason  string           `json:"failure_reason"`
	WipeMethod     string           `json:"wipe_method"`
	Tool           string           `json:"tool"`
	ToolVersion    string           `json:"tool_version"`
	PerformedBy    string           `json:"performed_by"`
	VerifiedBy     string           `json:"verified_by"`
	EvidenceName   string           `json:"evidence_name"`
	EvidenceSHA256 string           `json:"evidence_sha256"`
	ReenrolledAt   *time.Time       `json:"reenrolled_at"`
	Verification   string           `json:"verification"`
	SinglePerson   string           `json:"single_person"`
	Escalated      bool             `json:"escalated"`
	Transitions    []WipeTransition `json:"transitions"`
}

// WipeTransition is one step of a wipe's lifecycle.
type WipeTransition struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  WipeActor `json:"actor"`
	Detail string    `json:"detail"`
}

// WipeActor is who moved a wipe: a token, a device or the collector.
type WipeActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// WipeStartRequest is POST /api/v1/wipes.
type WipeStartRequest struct {
	Device string `json:"device"`
	Ticket string `json:"ticket"`
	Reason string `json:"reason"`
	Method string `json:"method"`
	Reuse  bool   `json:"reuse"`
	// Deadline is a duration such as "14d" or "36h" ("" for the default).
	Deadline string `json:"deadline"`
}

// WipeRecordRequest is POST /api/v1/wipes/{id}/record.
type WipeRecordRequest struct {
	Method      string `json:"method"`
	Tool        string `json:"tool"`
	ToolVersion string `json:"tool_version"`
	PerformedBy string `json:"performed_by"`
	VerifiedBy  string `json:"verified_by"`
	// Evidence is the evidence file, base64 (standard, padded).
	Evidence     string `json:"evidence"`
	EvidenceName string `json:"evidence_name"`
}
