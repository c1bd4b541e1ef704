package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/webhook"
)

// clock is the collector's time: the real clock, moved by an offset only
// when the unsafe test clock is on (see testClockAllowed).
type clock struct {
	offset atomic.Int64
}

func (c *clock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) SetOffset(d time.Duration) { c.offset.Store(int64(d)) }
func (c *clock) Offset() time.Duration     { return time.Duration(c.offset.Load()) }

// testClockAllowed says whether --unsafe-test-clock may be honoured: only
// on a loopback listen address, so a production collector (listening on a
// routable address or on all of them) cannot have its clock moved even if
// the flag were copied into its unit file.
func testClockAllowed(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--unsafe-test-clock is for end-to-end tests only and needs a loopback --listen address, not %q", listen)
}

// loadPolicies reads the policy file, or the embedded baseline when none is
// configured, under the configured CEL cost limits (the set keeps them for
// the sets that replace it). A file that does not load fails the start with
// the file, line and policy id (compliance.Parse's errors).
func loadPolicies(path string, lim compliance.Limits) (registry.ComplianceOptions, error) {
	if path == "" {
		set, err := compliance.ParseWithLimits(compliance.DefaultFile(), "default.yaml", lim)
		if err != nil {
			return registry.ComplianceOptions{}, fmt.Errorf("load default policies: %w", err)
		}
		return registry.ComplianceOptions{Set: set, Document: compliance.DefaultFile(),
			Source: registry.PolicySourceDefault, Name: "default"}, nil
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return registry.ComplianceOptions{}, fmt.Errorf("read policies: %w", err)
	}
	set, err := compliance.ParseWithLimits(doc, path, lim)
	if err != nil {
		return registry.ComplianceOptions{}, fmt.Errorf("load policies: %w", err)
	}
	return registry.ComplianceOptions{Set: set, Document: doc, Source: registry.PolicySourceFile, Name: path}, nil
}

// endpoints turns the configured webhooks into endpoints, reading secret
// files now so a missing file fails the start rather than every delivery.
func endpoints(hooks []config.Webhook) ([]webhook.Endpoint, error) {
	var out []webhook.Endpoint
	for _, h := range hooks {
		secret := h.Secret
		if h.SecretFile != "" {
			b, err := os.ReadFile(h.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("webhook %s: read secret_file: %w", h.ID, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		ep := webhook.Endpoint{ID: h.ID, URL: h.URL, Secret: secret, Events: h.Events, Enabled: true}
		if err := ep.Validate(); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", h.ID, err)
		}
		out = append(out, ep)
	}
	return out, nil
}

// startCompliance puts the policies, exception cap and webhooks in force,
// and starts the process's one webhook Worker, the policy watcher and the
// periodic fleet evaluation. The returned stop cancels them and waits.
func startCompliance(ctx context.Context, cfg config.Config, reg *registry.Registry, leases *jobLeases, clk *clock, logger *slog.Logger) (stop func(), err error) {
	opts, err := loadPolicies(cfg.Compliance.Policies, cfg.Compliance.CELLimits())
	if err != nil {
		return nil, err
	}
	if opts.Endpoints, err = endpoints(cfg.Webhooks); err != nil {
		return nil, err
	}
	opts.MaxExceptionValidity = time.Duration(cfg.Compliance.ExceptionMaxValidity)
	worker := webhook.NewWorker(reg.Outbox(0), nil, logger.With("component", "webhook"), webhook.Options{Now: clk.Now})
	opts.OnEvents = worker.Kick
	set, err := reg.ConfigureCompliance(ctx, opts, clk.Now())
	if err != nil {
		return nil, err
	}
	logger.Info("policies in force", "source", opts.Source, "policies", len(set.Policies()), "webhooks", len(opts.Endpoints))

	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = worker.Run(bg)
	}()
	go func() {
		defer wg.Done()
		// A policy set replaced through another collector sharing the
		// store is put in force here too.
		reg.WatchPolicies(bg, time.Duration(cfg.Compliance.PolicyWatchInterval))
	}()
	go func() {
		defer wg.Done()
		evaluateEvery(bg, reg, leases, clk, time.Duration(cfg.Compliance.EvaluateInterval), logger.With("component", "compliance"))
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// evaluateEvery re-evaluates the fleet at once (the policies may have
// changed while the collector was down) and then every interval, for
// results that change with time alone, in the instance holding the job's
// lease.
func evaluateEvery(ctx context.Context, reg *registry.Registry, leases *jobLeases, clk *clock, interval time.Duration, logger *slog.Logger) {
	lease := leases.lease(leaseFleetEvaluate, interval)
	defer lease.release(ctx)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !lease.hold(ctx) {
			t.Reset(interval)
			continue
		}
		stats, err := reg.EvaluateAll(ctx, clk.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("evaluate fleet", "err", err)
		case err == nil && (stats.Changed > 0 || stats.Events > 0):
			logger.Info("fleet evaluated", "devices", stats.Devices, "changed", stats.Changed, "events", stats.Events, "took", stats.Took)
		}
		t.Reset(interval)
	}
}
