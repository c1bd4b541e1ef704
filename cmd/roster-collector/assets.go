package main

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
)

// startAssets applies the register settings and recomputes every link and
// flag at start and then every assets.refresh_interval: missing is the flag
// that time alone sets, so no report would ever raise it. Among instances
// sharing a database only the holder of the job's lease refreshes. It
// returns the naming rule for reconcile and a stop function that waits for
// the loop.
func startAssets(ctx context.Context, cfg config.Assets, reg *registry.Registry, leases *jobLeases, now func() time.Time, logger *slog.Logger) (*regexp.Regexp, func(), error) {
	var rule *regexp.Regexp
	if cfg.HostnameRule != "" {
		var err error
		if rule, err = registry.ParseHostnameRule(cfg.HostnameRule); err != nil {
			return nil, nil, usageErrorf("assets.hostname_rule: %v", err)
		}
	}
	reg.SetMissingAfter(time.Duration(cfg.MissingAfter))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	lease := leases.lease(leaseFlagsRefresh, time.Duration(cfg.RefreshInterval))
	go func() {
		defer close(done)
		defer lease.release(ctx)
		t := time.NewTicker(time.Duration(cfg.RefreshInterval))
		defer t.Stop()
		for {
			var ch registry.Changes
			var err error
			if lease.hold(ctx) {
				ch, err = reg.RefreshFlags(ctx, now())
			}
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				logger.Error("refresh flags", "err", err)
			case ch != (registry.Changes{}):
				logger.Info("flags refreshed", "links_changed", ch.LinksChanged, "flags_set", ch.FlagsSet, "flags_cleared", ch.FlagsCleared)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return rule, func() { cancel(); <-done }, nil
}
