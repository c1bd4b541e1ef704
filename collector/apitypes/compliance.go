package apitypes

// Compliance: policies, results, exceptions and events.

import (
	"encoding/json"
	"time"
)

// Policy is a compliance policy as the policy file writes it (docs/policies.md).
type Policy struct {
	ID           string       `json:"id"`
	Title        string       `json:"title"`
	Description  string       `json:"description,omitempty"`
	Severity     string       `json:"severity"`
	Scope        PolicyScope  `json:"scope,omitzero"`
	Kind         string       `json:"kind"`
	Params       PolicyParams `json:"params,omitzero"`
	Expr         string       `json:"expr,omitempty"`
	FailReason   string       `json:"fail_reason,omitempty"`
	Remedy       string       `json:"remedy,omitempty"`
	GraceDays    int          `json:"grace_days,omitempty"`
	ValidityDays int          `json:"validity_days,omitempty"`
}

// PolicyScope limits which devices a policy applies to.
type PolicyScope struct {
	Platforms       []string `json:"platforms,omitempty"`
	Classifications []string `json:"classifications,omitempty"`
	AssetTypes      []string `json:"asset_types,omitempty"`
	Tags            []string `json:"tags,omitempty"`
}

// PolicyParams are a built-in policy kind's parameters.
type PolicyParams struct {
	Scope      string            `json:"scope,omitempty"`
	Days       int               `json:"days,omitempty"`
	Count      *int              `json:"count,omitempty"`
	Versions   map[string]string `json:"versions,omitempty"`
	Unlisted   string            `json:"unlisted,omitempty"`
	Name       string            `json:"name,omitempty"`
	MinVersion string            `json:"min_version,omitempty"`
	Version    string            `json:"version,omitempty"`
}

// PolicySetRecord says which policy set is in force and where it came from.
type PolicySetRecord struct {
	ID        int64     `json:"id"`
	Source    string    `json:"source"`
	Name      string    `json:"name"`
	Hash      string    `json:"hash"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// EvalStats is what a fleet re-evaluation did.
type EvalStats struct {
	Devices int `json:"devices"`
	Changed int `json:"changed"`
	Events  int `json:"events"`
}

// DeviceCompliance is a device's overall compliance state and its result per policy.
type DeviceCompliance struct {
	State       string         `json:"state"`
	EvaluatedAt *time.Time     `json:"evaluated_at"`
	Results     []ResultRecord `json:"results"`
}

// ResultRecord is a device's result for one policy, with the reason.
type ResultRecord struct {
	PolicyID     string     `json:"policy_id"`
	Title        string     `json:"title"`
	Severity     string     `json:"severity"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason"`
	ExceptionID  string     `json:"exception_id"`
	FailingSince *time.Time `json:"failing_since"`
}

// ExceptionRecord is an exception to a policy for a device or asset, with its decision.
type ExceptionRecord struct {
	ID                  string     `json:"id"`
	PolicyID            string     `json:"policy_id"`
	DeviceID            string     `json:"device_id"`
	AssetTag            string     `json:"asset_tag"`
	Reason              string     `json:"reason"`
	CompensatingControl string     `json:"compensating_control"`
	RequestedBy         string     `json:"requested_by"`
	RequestedByID       string     `json:"requested_by_id"`
	CreatedAt           time.Time  `json:"created_at"`
	ExpiresAt           time.Time  `json:"expires_at"`
	Approver            string     `json:"approver"`
	ApproverID          string     `json:"approver_id"`
	DeniedBy            string     `json:"denied_by"`
	DeniedByID          string     `json:"denied_by_id"`
	DecidedAt           *time.Time `json:"decided_at"`
	DecisionNote        string     `json:"decision_note"`
	RevokedAt           *time.Time `json:"revoked_at"`
	RevokedBy           string     `json:"revoked_by"`
	Status              string     `json:"status"`
}

// ComplianceSummary is GET /api/v1/compliance/summary: counts by state and by policy.
type ComplianceSummary struct {
	Devices  int            `json:"devices"`
	ByState  map[string]int `json:"by_state"`
	Policies []PolicyCount  `json:"policies"`
}

// PolicyCount is one policy's result counts.
type PolicyCount struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Severity string         `json:"severity"`
	Counts   map[string]int `json:"counts"`
}

// EventRecord is a stored drift, compliance or wipe event; Data is the event's own JSON.
type EventRecord struct {
	N        int64           `json:"n"`
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	At       time.Time       `json:"at"`
	DeviceID string          `json:"device_id"`
	AssetTag string          `json:"asset_tag"`
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
}

// PolicySet is GET and PUT /api/v1/policies.
type PolicySet struct {
	Set   PolicySetRecord `json:"set"`
	Items []Policy        `json:"items"`
	// Evaluation is what the re-evaluation after a PUT did.
	Evaluation *EvalStats `json:"evaluation,omitempty"`
}

// PolicyFile is the body of PUT /api/v1/policies: the policy file, in
// YAML or JSON.
type PolicyFile struct {
	Policies []Policy `json:"policies"`
}

// ExceptionRequest is POST /api/v1/exceptions. Give Device or AssetTag,
// and ExpiresAt (RFC 3339 or a date, meaning its midnight UTC) or
// ExpiresIn ("30d", "12h"). There is no approver: the requester is the
// token's principal, and whoever approves it is the approver.
type ExceptionRequest struct {
	PolicyID            string `json:"policy_id"`
	Device              string `json:"device,omitempty"`
	AssetTag            string `json:"asset_tag,omitempty"`
	Reason              string `json:"reason"`
	CompensatingControl string `json:"compensating_control"`
	ExpiresAt           string `json:"expires_at,omitempty"`
	ExpiresIn           string `json:"expires_in,omitempty"`
}

// ExceptionDecision is POST /api/v1/exceptions/{id}/approve and /deny; the
// body is optional. The decider is the token's principal.
type ExceptionDecision struct {
	Note string `json:"note"`
}

// ClockRequest is PUT /api/v1/test/clock (end-to-end tests only).
type ClockRequest struct {
	// Offset moves the clock from the real time: a Go duration or days
	// ("400d", "-2h").
	Offset string `json:"offset"`
}

// ClockView is the test clock after a move and what re-evaluating the
// fleet at that time did.
type ClockView struct {
	Now        time.Time `json:"now"`
	Offset     string    `json:"offset"`
	Evaluation EvalStats `json:"evaluation"`
}
