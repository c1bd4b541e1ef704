package main

// The retention purge job (docs/retention.md).

import (
	"context"
	"log/slog"
	"time"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
)

// startRetention runs the purge job every cfg.Interval under a lease.
func startRetention(ctx context.Context, cfg config.Retention, reg *registry.Registry, leases *jobLeases, now func() time.Time, logger *slog.Logger) (stop func()) {
	return func() {}
}
