package apitypes

// Compliance over time (issue 16): a device's policy statuses over a
// period, and the fleet's daily compliance rate per policy.

import "time"

// PolicyState is a device's status for one policy in force at a moment,
// and since when.
type PolicyState struct {
	PolicyID string    `json:"policy_id"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
}

// ComplianceTransition is one change of a device's status for one policy;
// status "removed" means the device stopped having a result for it (the
// policy was deleted or narrowed, or the device was revoked), previous ""
// its first result.
type ComplianceTransition struct {
	DeviceID string    `json:"device_id"`
	PolicyID string    `json:"policy_id"`
	At       time.Time `json:"at"`
	Status   string    `json:"status"`
	Previous string    `json:"previous"`
	Reason   string    `json:"reason"`
}

// ComplianceHistory is one device's compliance over [from, to): the
// status of each policy in force when the period began, then every
// transition in it, oldest first.
type ComplianceHistory struct {
	DeviceID    string                 `json:"device_id"`
	Hostname    string                 `json:"hostname"`
	From        time.Time              `json:"from"`
	To          time.Time              `json:"to"`
	States      []PolicyState          `json:"states"`
	Transitions []ComplianceTransition `json:"transitions"`
}

// DayRate is one UTC day's compliance for one policy (policy_id "" is the
// fleet, each device counted once by its worst status), from the statuses
// in force at the day's end. in_scope counts every status listed;
// compliant is (pass + exempt) / in_scope, 0 when nothing is in scope.
type DayRate struct {
	Day       string  `json:"day"`
	PolicyID  string  `json:"policy_id"`
	Pass      int     `json:"pass"`
	Fail      int     `json:"fail"`
	InGrace   int     `json:"in_grace"`
	Exempt    int     `json:"exempt"`
	Unknown   int     `json:"unknown"`
	Stale     int     `json:"stale"`
	InScope   int     `json:"in_scope"`
	Compliant float64 `json:"compliant"`
}

// DailyCompliance is the daily rates over [from, to) for one policy, or
// for the fleet and every policy (policy_id ""), by day then policy.
type DailyCompliance struct {
	PolicyID string    `json:"policy_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Days     []DayRate `json:"days"`
}
