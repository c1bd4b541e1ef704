package config

import (
	"fmt"
	"strings"
	"time"
)

// Backup configures the collector's scheduled, encrypted backups
// (docs/backup.md). `roster-collector backup` takes the same recipients.
type Backup struct {
	// Recipients are age public keys (age1…) every backup is encrypted
	// to; the collector holds only these, the identity that decrypts
	// lives elsewhere (an offline machine, a vault).
	Recipients []string `yaml:"recipients"`
	// RecipientsFile is a file of age recipients, one per line (# for
	// comments), as age -R reads it.
	RecipientsFile string `yaml:"recipients_file"`
	// Interval is how often a scheduled backup is taken; 0 (the default)
	// takes none.
	Interval Duration `yaml:"interval"`
	// Dir is where scheduled backups are written (default
	// data_dir/backups).
	Dir string `yaml:"dir"`
	// Keep is how many scheduled backups are kept in Dir; older ones are
	// deleted after a new one is complete (default 14).
	Keep int `yaml:"keep"`
}

// Backup defaults and bounds.
const (
	DefaultBackupKeep   = 14
	MinBackupInterval   = time.Hour
	DefaultBackupSubdir = "backups"
)

// Scheduled reports whether the collector takes backups on its own.
func (b Backup) Scheduled() bool { return b.Interval > 0 }

// Retention is how long each kind of data is kept before the purge job
// deletes it (docs/retention.md gives the reasoning for each default). A
// zero duration keeps that kind for ever.
type Retention struct {
	// Interval is how often the purge job runs (default 24h).
	Interval Duration `yaml:"interval"`
	// DeviceHistory: a device's change history (software added, removed,
	// upgraded, OS and encryption changes) and the register's history.
	DeviceHistory Duration `yaml:"device_history"`
	// ComplianceHistory: policy-result transitions. The newest transition
	// of each device and policy is always kept, so its current state and
	// the time it began stay known.
	ComplianceHistory Duration `yaml:"compliance_history"`
	// Events: events and the webhook deliveries made of them.
	Events Duration `yaml:"events"`
	// ReportBookkeeping: the record of applied reports that makes replays
	// idempotent; each device's newest is always kept. Stored deltas are
	// part of the current snapshot and go only with a device's snapshot.
	ReportBookkeeping Duration `yaml:"report_bookkeeping"`
	// RetiredDevices: the snapshot, facts and software of a device whose
	// certificates are all revoked or whose asset is decommissioned or
	// disposed, counted from then, and that has been silent since. The
	// device's row, identity and history stay (they are evidence of what
	// it was), marked so its facts read as purged, not as never measured.
	RetiredDevices Duration `yaml:"retired_devices"`
	// DisposedOwners: the owner's name and email on an asset disposed of
	// this long ago (personal data with no purpose left), replaced by a
	// marker saying when they were removed.
	DisposedOwners Duration `yaml:"disposed_owners"`
	// AuditLog: audit entries older than this are deleted up to a signed
	// checkpoint, which stays and anchors the rest of the chain.
	AuditLog Duration `yaml:"audit_log"`
	// Sessions: ended or expired console sessions.
	Sessions Duration `yaml:"sessions"`
}

const day = 24 * time.Hour

// Retention defaults (docs/retention.md says why).
const (
	DefaultRetentionInterval = 24 * time.Hour
	DefaultDeviceHistory     = 3 * 365 * day
	DefaultComplianceHistory = 3 * 365 * day
	DefaultEvents            = 90 * day
	DefaultReportBookkeeping = 30 * day
	DefaultRetiredDevices    = 365 * day
	DefaultDisposedOwners    = 90 * day
	DefaultAuditLog          = 3 * 365 * day
	DefaultSessions          = 30 * day
)

// DefaultRetention is the retention every collector starts with.
func DefaultRetention() Retention {
	return Retention{
		Interval:          Duration(DefaultRetentionInterval),
		DeviceHistory:     Duration(DefaultDeviceHistory),
		ComplianceHistory: Duration(DefaultComplianceHistory),
		Events:            Duration(DefaultEvents),
		ReportBookkeeping: Duration(DefaultReportBookkeeping),
		RetiredDevices:    Duration(DefaultRetiredDevices),
		DisposedOwners:    Duration(DefaultDisposedOwners),
		AuditLog:          Duration(DefaultAuditLog),
		Sessions:          Duration(DefaultSessions),
	}
}

// RetentionKind is one kind of data with its retention, for the purge job
// and for messages that name the config key.
type RetentionKind struct {
	Key  string
	Keep time.Duration
}

// Kinds lists every kind with its retention, in a stable order.
func (r Retention) Kinds() []RetentionKind {
	return []RetentionKind{
		{"device_history", time.Duration(r.DeviceHistory)},
		{"compliance_history", time.Duration(r.ComplianceHistory)},
		{"events", time.Duration(r.Events)},
		{"report_bookkeeping", time.Duration(r.ReportBookkeeping)},
		{"retired_devices", time.Duration(r.RetiredDevices)},
		{"disposed_owners", time.Duration(r.DisposedOwners)},
		{"audit_log", time.Duration(r.AuditLog)},
		{"sessions", time.Duration(r.Sessions)},
	}
}

// Minimum retentions: below these a purge would destroy what the collector
// still needs (a replayed report's bookkeeping, an audit period's
// evidence) or what an auditor samples for a year-long period.
const (
	MinReportBookkeeping = 7 * day
	MinEvidenceRetention = 400 * day
)

func (c *Config) validateRetention() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	r := c.Retention
	if d := time.Duration(r.Interval); d < time.Minute || d > 7*day {
		add("retention.interval %s must be from 1m to 168h", d)
	}
	for _, k := range r.Kinds() {
		if k.Keep < 0 {
			add("retention.%s %s must not be negative (0 keeps for ever)", k.Key, k.Keep)
		}
	}
	for _, k := range []struct {
		key string
		d   Duration
	}{{"device_history", r.DeviceHistory}, {"compliance_history", r.ComplianceHistory}, {"audit_log", r.AuditLog}} {
		if d := time.Duration(k.d); d > 0 && d < MinEvidenceRetention {
			add("retention.%s %s is below %s (400 days): an auditor samples a year-long period, so evidence must outlive it (0 keeps for ever)",
				k.key, d, MinEvidenceRetention)
		}
	}
	if d := time.Duration(r.ReportBookkeeping); d > 0 && d < MinReportBookkeeping {
		add("retention.report_bookkeeping %s is below %s: an agent offline for a week replays reports the collector must recognise", d, MinReportBookkeeping)
	}
	b := c.Backup
	if b.Interval < 0 || (b.Interval > 0 && time.Duration(b.Interval) < MinBackupInterval) {
		add("backup.interval %s must be 0 (no scheduled backups) or at least %s", time.Duration(b.Interval), MinBackupInterval)
	}
	if b.Keep < 0 {
		add("backup.keep %d must not be negative", b.Keep)
	}
	if b.Scheduled() && len(b.Recipients) == 0 && b.RecipientsFile == "" {
		add("backup.interval is set but no backup.recipients or backup.recipients_file: backups are always encrypted to an age recipient")
	}
	for i, rcp := range b.Recipients {
		if !strings.HasPrefix(rcp, "age1") {
			add("backup.recipients[%d] %q is not an age public key (age1…)", i, rcp)
		}
	}
	return errs
}
