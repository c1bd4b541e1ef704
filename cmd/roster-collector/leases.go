package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/registry"
)

// Lease names of the periodic jobs: with several collectors on one
// database, each job runs its period only in the instance holding its
// lease. (The webhook worker needs none: every instance's worker claims
// each delivery it sends, so deliveries spread over instances and a
// report's kick is served at once by the instance that took the report.)
const (
	leaseFlagsRefresh    = "assets.refresh_flags"
	leaseFleetEvaluate   = "compliance.evaluate_fleet"
	leaseWipeExpiry      = "offboarding.expire_wipes"
	leaseAuditCheckpoint = "audit.checkpoint"
	leaseBackup          = "backup.scheduled"
	leaseRetention       = "retention.purge"
)

// minJobLeaseTTL keeps a lease alive across a slow period even when the
// period itself is short (tests, a tight configuration).
const minJobLeaseTTL = 30 * time.Second

// jobLeases is this instance's name as a lease holder, made at start.
type jobLeases struct {
	reg     *registry.Registry
	holder  string
	metrics *metrics.Metrics
	logger  *slog.Logger
}

func newJobLeases(reg *registry.Registry, m *metrics.Metrics, logger *slog.Logger) *jobLeases {
	h := registry.NewLeaseHolder()
	logger.Info("lease holder", "holder", h)
	return &jobLeases{reg: reg, holder: h, metrics: m, logger: logger}
}

// jobLease is one periodic job's lease. Its ttl is three periods: the
// holder renews it every period, so a late tick or two does not hand the
// job over, and an instance that died hands it over within three periods
// (a clean stop releases it at once).
type jobLease struct {
	l    *jobLeases
	name string
	ttl  time.Duration
	held bool
}

func (l *jobLeases) lease(name string, period time.Duration) *jobLease {
	return &jobLease{l: l, name: name, ttl: max(3*period, minJobLeaseTTL)}
}

// hold takes or renews the lease and says whether this instance runs the
// job this period; it logs when the job moves to or away from it. Leases
// use the wall clock, not the collector's (test) clock: expiry is about
// live processes.
func (j *jobLease) hold(ctx context.Context) bool {
	ok, err := j.l.reg.TryLease(ctx, j.name, j.l.holder, j.ttl, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			j.l.logger.Error("take job lease", "job", j.name, "err", err)
		}
		ok = false
	}
	if ok != j.held {
		if ok {
			j.l.logger.Info("job lease taken: this instance runs the job", "job", j.name)
		} else if err == nil {
			j.l.logger.Info("job lease held by another instance", "job", j.name)
		}
	}
	j.held = ok
	j.l.metrics.JobPeriod(j.name, ok)
	return ok
}

// release hands the job over at once (at stop); ctx may already be over.
func (j *jobLease) release(ctx context.Context) {
	if !j.held {
		return
	}
	j.held = false
	if err := j.l.reg.Release(context.WithoutCancel(ctx), j.name, j.l.holder); err != nil {
		j.l.logger.Warn("release job lease", "job", j.name, "err", err)
	}
}
