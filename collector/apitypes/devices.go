package apitypes

// Devices: the fleet as agents report it, its software and history, and
// the enrolment secrets devices join with.

import "time"

// Device is a device as the registry holds it: hardware identity, latest facts, state and flags.
type Device struct {
	ID                     string             `json:"id"`
	Hostname               string             `json:"hostname"`
	Platform               string             `json:"platform"`
	SystemSerial           string             `json:"system_serial"`
	SystemUUID             string             `json:"system_uuid"`
	BoardSerial            string             `json:"board_serial"`
	MACs                   []string           `json:"macs"`
	Vendor                 string             `json:"vendor"`
	Model                  string             `json:"model"`
	OSName                 string             `json:"os_name"`
	OSVersion              string             `json:"os_version"`
	OSBuild                string             `json:"os_build"`
	Kernel                 string             `json:"kernel"`
	LastUpdateAt           *time.Time         `json:"last_update_at"`
	PendingUpdates         *int               `json:"pending_updates"`
	PendingSecurityUpdates *int               `json:"pending_security_updates"`
	RebootRequired         string             `json:"reboot_required"`
	AgentVersion           string             `json:"agent_version"`
	AgentSpoolDepth        *int               `json:"agent_spool_depth"`
	AgentTransport         string             `json:"agent_transport"`
	AgentHeartbeatAt       *time.Time         `json:"agent_heartbeat_at"`
	State                  string             `json:"state"`
	Flags                  []string           `json:"flags"`
	FirstSeen              time.Time          `json:"first_seen"`
	LastSeen               time.Time          `json:"last_seen"`
	LastReportSeq          uint64             `json:"last_report_seq"`
	SoftwareCount          int                `json:"software_count"`
	SystemEncrypted        string             `json:"system_encrypted"`
	EnrolledAt             time.Time          `json:"enrolled_at"`
	CertSerial             string             `json:"cert_serial"`
	CertNotAfter           *time.Time         `json:"cert_not_after"`
	Asset                  *DeviceAsset       `json:"asset,omitempty"`
	FlagDetails            []Flag             `json:"flag_details,omitempty"`
	Enrolment              *Enrolment         `json:"enrolment,omitempty"`
	Enrolments             []Enrolment        `json:"enrolments,omitempty"`
	IdentityConflicts      []IdentityConflict `json:"identity_conflicts,omitempty"`
	ReenrollAllowedUntil   *time.Time         `json:"reenroll_allowed_until,omitempty"`
	MergedInto             string             `json:"merged_into,omitempty"`
	// SnapshotPurgedAt is when retention removed a retired device's
	// snapshot, facts and software: its facts are unknown, not absent.
	SnapshotPurgedAt *time.Time `json:"snapshot_purged_at,omitempty"`
}

// DeviceAsset is the asset a device is linked to, as the device view shows it.
type DeviceAsset struct {
	ID             string    `json:"id"`
	AssetTag       string    `json:"asset_tag"`
	Type           string    `json:"type"`
	Model          string    `json:"model"`
	Owner          string    `json:"owner"`
	OwnerEmail     string    `json:"owner_email"`
	Classification string    `json:"classification"`
	Location       string    `json:"location"`
	Status         string    `json:"status"`
	LinkedBy       string    `json:"linked_by"`
	LinkedAt       time.Time `json:"linked_at"`
	Flags          []Flag    `json:"flags"`
}

// Flag is a register flag that is set (unregistered, missing, not_in_service, identity_conflict).
type Flag struct {
	Flag     string    `json:"flag"`
	Since    time.Time `json:"since"`
	Severity string    `json:"severity"`
	Detail   string    `json:"detail"`
}

// Enrolment is one enrolment of a device and the identity rule that decided it.
type Enrolment struct {
	At            time.Time `json:"at"`
	SecretID      string    `json:"secret_id"`
	SecretLabel   string    `json:"secret_label"`
	Rule          string    `json:"rule"`
	MatchedBy     string    `json:"matched_by"`
	MatchedDevice string    `json:"matched_device"`
	CertSerial    string    `json:"cert_serial"`
	Detail        string    `json:"detail"`
}

// IdentityConflict is a new enrolment whose hardware identity matches a device that is still alive.
type IdentityConflict struct {
	Device    string    `json:"device_id"`
	Other     string    `json:"other_id"`
	MatchedBy string    `json:"matched_by"`
	Since     time.Time `json:"since"`
}

// Package is one installed package of a device.
type Package struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Arch        string     `json:"arch"`
	Source      string     `json:"source"`
	Publisher   string     `json:"publisher"`
	InstallDate *time.Time `json:"install_date"`
}

// HistoryEntry is one change a report brought (software, OS, encryption, identity).
type HistoryEntry struct {
	ID       int64     `json:"id"`
	DeviceID string    `json:"device_id"`
	Hostname string    `json:"hostname"`
	At       time.Time `json:"at"`
	Seq      uint64    `json:"seq"`
	Kind     string    `json:"kind"`
	Subject  string    `json:"subject"`
	Old      string    `json:"old"`
	New      string    `json:"new"`
}

// SoftwareHit is a device that has a package GET /api/v1/software searched for.
type SoftwareHit struct {
	DeviceID string `json:"device_id"`
	Hostname string `json:"hostname"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Source   string `json:"source"`
}

// MergeResult is POST /api/v1/devices/{ref}/merge: the device that continues and the record merged into it.
type MergeResult struct {
	Device Device `json:"device"`
	Merged Device `json:"merged"`
}

// Secret is an enrolment secret's record; the secret itself is only in SecretCreated.
type Secret struct {
	ID        string     `json:"id"`
	Label     string     `json:"label"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// DeviceDetail is GET /api/v1/devices/{ref}: the device's keys, then what
// the helpdesk needs beside them.
type DeviceDetail struct {
	Device
	Compliance    DeviceCompliance  `json:"compliance"`
	Exceptions    []ExceptionRecord `json:"exceptions"`
	RecentChanges []HistoryEntry    `json:"recent_changes"`
}

// MergeRequest is POST /api/v1/devices/{ref}/merge: ref (the new record,
// whose agent keeps running) continues Into's history.
type MergeRequest struct {
	Into string `json:"into"`
}

// AllowReenrollRequest is POST /api/v1/devices/{ref}/allow-reenroll.
type AllowReenrollRequest struct {
	// Within is how long the allowance lasts: "24h", "2d" (default 24h).
	Within string `json:"within"`
}

// SecretRequest is POST /api/v1/secrets.
type SecretRequest struct {
	Label string `json:"label,omitempty"`
	// ExpiresIn is "30d", "12h"; "" never expires.
	ExpiresIn string `json:"expires_in,omitempty"`
	// MaxUses is how many enrolments it allows; 0 is no limit.
	MaxUses int `json:"max_uses,omitempty"`
}

// SecretCreated is the one response that carries the secret.
type SecretCreated struct {
	ID        string     `json:"id"`
	Secret    string     `json:"secret"`
	Label     string     `json:"label"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
}
