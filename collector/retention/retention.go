// Package retention is the data-retention purge's pure part: which kinds
// of data there are and the cut-off each gets at a moment (Policy, Rule),
// how far the audit log may be purged and in which steps (AuditPlan: only
// up to a signed checkpoint, so the chain left verifies), the marker that
// replaces a disposed asset's owner, and the report of a purge or a dry
// run. The registry (collector/registry/purge.go) selects and deletes the
// rows; docs/retention.md says why each default is what it is.
package retention

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/rosterhq/roster/collector/config"
)

// Kinds of data, named as their retention.* configuration keys.
const (
	DeviceHistory     = "device_history"
	ComplianceHistory = "compliance_history"
	Events            = "events"
	ReportBookkeeping = "report_bookkeeping"
	RetiredDevices    = "retired_devices"
	DisposedOwners    = "disposed_owners"
	AuditLog          = "audit_log"
	Sessions          = "sessions"
)

// DefaultBatch is how many rows one transaction of a purge removes, and
// RetiredItemBatch how many devices or assets (the kinds that work per
// item): small enough that a purge of a year's backlog holds the store's
// write lock for some 50 ms at a time (BenchmarkPurgeFleet), so reports
// keep flowing while it runs.
const (
	DefaultBatch     = 1000
	RetiredItemBatch = 50
)

// Rule is one kind's retention: data older than Keep goes (0 keeps it for
// ever).
type Rule struct {
	Kind string
	Keep time.Duration
}

// Policy is what a purge applies: one rule per kind, in the order the
// purge runs them (the audit log last, so that the purge's own records
// of the other kinds are never what it removes), and the batch size.
type Policy struct {
	Rules []Rule
	// Batch is the rows per transaction (0: DefaultBatch).
	Batch int
}

// FromConfig is the policy of a collector's retention configuration.
func FromConfig(c config.Retention) Policy {
	var p Policy
	var audit *Rule
	for _, k := range c.Kinds() {
		r := Rule{Kind: k.Key, Keep: k.Keep}
		if r.Kind == AuditLog {
			audit = &r
			continue
		}
		p.Rules = append(p.Rules, r)
	}
	if audit != nil {
		p.Rules = append(p.Rules, *audit)
	}
	return p
}

// BatchSize is the policy's batch, DefaultBatch when unset.
func (p Policy) BatchSize() int {
	if p.Batch <= 0 {
		return DefaultBatch
	}
	return p.Batch
}

// Cutoff is the moment before which a kind's data is past retention at
// now, and false when the kind is kept for ever.
func (r Rule) Cutoff(now time.Time) (time.Time, bool) {
	if r.Keep <= 0 {
		return time.Time{}, false
	}
	return now.Add(-r.Keep).UTC(), true
}

// MarkerPrefix begins every OwnerMarker.
const MarkerPrefix = "(removed by retention on "

// OwnerMarker is what replaces the owner's name of an asset disposed of
// past retention: it says the name was there and when it was removed, so
// an empty owner (never known) and a removed one read differently.
func OwnerMarker(now time.Time) string {
	return MarkerPrefix + now.UTC().Format(time.DateOnly) + ")"
}

// KindReport is what a purge removed of one kind (or, in a dry run, would
// remove).
type KindReport struct {
	Kind string `json:"kind"`
	// Kept is true when the kind is kept for ever (no cutoff).
	Kept   bool       `json:"kept_for_ever,omitempty"`
	Cutoff *time.Time `json:"cutoff,omitempty"`
	// Tables is rows per table: deleted, or for the kinds that edit rows
	// (disposed owners, retired devices' markers) rows changed.
	Tables map[string]int64 `json:"tables"`
	// Items is the devices (retired_devices) or assets (disposed_owners)
	// concerned.
	Items int64 `json:"items,omitempty"`
	// ThroughSeq and Anchor are the audit log's purge: entries up to
	// ThroughSeq removed, the chain now starting after the signed
	// checkpoint Anchor (the same sequence).
	ThroughSeq int64 `json:"through_seq,omitempty"`
	// Note says why nothing was removed when that is not simply "nothing
	// old enough" (no signed checkpoint old enough for the audit log).
	Note     string        `json:"note,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Rows is the kind's total over its tables.
func (k KindReport) Rows() int64 {
	var n int64
	for _, v := range k.Tables {
		n += v
	}
	return n
}

// Report is one purge or dry run.
type Report struct {
	DryRun bool         `json:"dry_run"`
	At     time.Time    `json:"at"`
	Kinds  []KindReport `json:"kinds"`
}

// Rows is the report's total over every kind.
func (r Report) Rows() int64 {
	var n int64
	for _, k := range r.Kinds {
		n += k.Rows()
	}
	return n
}

// Print writes the report as a table a person reads: one line per kind
// and table.
func (r Report) Print(w io.Writer) error {
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "KIND\tCUTOFF\tTABLE\tROWS\n")
	for _, k := range r.Kinds {
		cut := "kept for ever"
		if k.Cutoff != nil {
			cut = k.Cutoff.Format(time.RFC3339)
		}
		tables := make([]string, 0, len(k.Tables))
		for t := range k.Tables {
			tables = append(tables, t)
		}
		slices.Sort(tables)
		if len(tables) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t0\n", k.Kind, cut)
		}
		for _, t := range tables {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", k.Kind, cut, t, k.Tables[t])
		}
		if k.Note != "" {
			fmt.Fprintf(tw, "%s\t\t(%s)\t\n", k.Kind, k.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s %d rows in total\n", verb, r.Rows())
	return err
}
