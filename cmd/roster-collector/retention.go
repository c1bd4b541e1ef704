package main

// The retention purge (docs/retention.md): the job serve runs every
// retention.interval, and `roster-collector retention run`, which runs one
// purge (or counts it with --dry-run) against the data directory and
// configuration like the other maintenance commands.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/retention"
)

// startRetention runs the purge job at start and every cfg.Interval under
// a lease, so among collectors sharing a store one purges. It purges at
// the collector's clock (now), which end-to-end tests move; the lease
// uses the wall clock.
func startRetention(ctx context.Context, cfg config.Retention, reg *registry.Registry, leases *jobLeases, now func() time.Time, logger *slog.Logger) (stop func()) {
	every := time.Duration(cfg.Interval)
	policy := retention.FromConfig(cfg)
	lease := leases.lease(leaseRetention, every)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer lease.release(ctx)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if lease.hold(ctx) {
				purge(ctx, reg, policy, now(), leases.metrics, logger)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// purge runs one purge and logs and counts what it removed, kind by kind.
func purge(ctx context.Context, reg *registry.Registry, policy retention.Policy, now time.Time, m *metrics.Metrics, logger *slog.Logger) {
	rep, err := reg.Purge(ctx, policy, now)
	for _, k := range rep.Kinds {
		for table, n := range k.Tables {
			m.RetentionPurged(k.Kind, table, n)
		}
		if n := k.Rows(); n > 0 {
			logger.Info("retention purged", "kind", k.Kind, "cutoff", k.Cutoff, "rows", n, "tables", k.Tables, "items", k.Items, "duration", k.Duration)
		}
	}
	if err != nil && ctx.Err() == nil {
		logger.Error("retention purge", "err", err)
		return
	}
	logger.Debug("retention purge done", "rows", rep.Rows())
}

// retentionRun is `roster-collector retention run [--dry-run] [--json]`.
func retentionRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("retention run", stderr)
	var d dataFlags
	d.register(fset)
	dry := fset.Bool("dry-run", false, "count what would be removed, per kind and table, and remove nothing")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	if err := parse(fset, args); err != nil {
		return err
	}
	c := config.Default()
	if d.configFile != "" {
		if err := config.LoadFile(d.configFile, &c); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return usageErrorf("%s: %s", d.configFile, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		}
	}
	reg, err := d.openCurrent(ctx, stderr)
	if err != nil {
		return err
	}
	defer reg.Close()
	policy := retention.FromConfig(c.Retention)
	var rep retention.Report
	if *dry {
		rep, err = reg.PurgePlan(ctx, policy, time.Now())
	} else {
		rep, err = reg.Purge(localActor(ctx, "retention run"), policy, time.Now())
	}
	// What was removed before a failure is reported too.
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if perr := enc.Encode(rep); perr != nil {
			return perr
		}
	} else if perr := rep.Print(stdout); perr != nil {
		return perr
	}
	return err
}
