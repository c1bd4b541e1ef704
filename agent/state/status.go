package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// StatusFile is where the running agent publishes how it is doing, for
// `roster-agent status` (which runs as another process).
const StatusFile = "status.json"

// Status is what `roster-agent status --json` prints; its JSON keys are
// documented in docs/agent.md and stable.
type Status struct {
	// Running and PID are filled by the status command, not the loop.
	Running bool `json:"running"`
	// ServiceState is the service manager's answer (running, stopped,
	// not-installed, unknown).
	ServiceState string `json:"service_state,omitempty"`
	PID          int    `json:"pid,omitempty"`

	DeviceID string `json:"device_id,omitempty"`
	// Collector is the collector in use: the one that last answered, or
	// the one the next request goes to first.
	Collector string `json:"collector,omitempty"`
	// Collectors are the configured collectors in order of preference.
	Collectors []string `json:"collectors,omitempty"`
	// LastReportAt is the last report the collector acknowledged.
	LastReportAt     *time.Time `json:"last_report_at,omitempty"`
	LastReportStatus string     `json:"last_report_status,omitempty"`
	LastHeartbeatAt  *time.Time `json:"last_heartbeat_at,omitempty"`
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
	NextReportAt     *time.Time `json:"next_report_at,omitempty"`
	NextHeartbeatAt  *time.Time `json:"next_heartbeat_at,omitempty"`
	SpoolDepth       int        `json:"spool_depth"`
	SpoolBytes       int64      `json:"spool_bytes"`
	Transport        string     `json:"transport,omitempty"`
	// Stopped explains why the agent no longer sends (device revoked or
	// unknown to the collector); empty while it sends.
	Stopped   string    `json:"stopped,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SaveStatus publishes st atomically.
func (d *Dir) SaveStatus(st Status) error {
	return d.saveJSON(StatusFile, "status", st)
}

// LoadStatus reads the last published status; a missing file gives a zero
// Status and no error (the loop has not run yet).
func (d *Dir) LoadStatus() (Status, error) {
	b, err := d.ReadFile(StatusFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return Status{}, fmt.Errorf("decode %s: %w", StatusFile, err)
	}
	return st, nil
}
