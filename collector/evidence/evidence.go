// Package evidence builds the auditor's evidence bundle for a period
// (issue 16): the inventory at the period's end and its changes, the
// register and its reconciliation, compliance over the period with the
// fleet's daily rates, the exceptions in force, the certificates of
// sanitisation issued, the access review, the audit-log slice with the
// chain's verification, and index.html, the page an auditor opens first,
// mapping each file to control ids with a chart per policy. Every file is
// read from the registry a page at a time and streamed through the zip
// (collector/evidence/bundle), which hashes it on the way; the manifest
// and its signature by the collector's command key come last. Nothing of
// the bundle is held in memory but the small tables the page shows.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/evidence/bundle"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// MaxPeriod is the longest period one bundle covers: two years, so an
// annual ISO 27001 audit and its predecessor fit, and the daily rates stay
// a few hundred rows per policy.
const MaxPeriod = 731 * 24 * time.Hour

// Options say what to export and with what.
type Options struct {
	Registry *registry.Registry
	// Key signs the manifest and the certificates of sanitisation and
	// checks the audit log's checkpoints.
	Key *pki.CommandKey
	// From and To are the period, [From, To); ParsePeriod makes them.
	From, To time.Time
	// Now is the export time.
	Now time.Time
	// Exporter is who asked for the bundle; Collector names this collector.
	Exporter  access.Principal
	Collector string
	// HostnameRule is the naming rule the reconciliation applies (nil:
	// none), as GET /api/v1/reconcile uses.
	HostnameRule *regexp.Regexp
	// MaxUncovered is the audit verification's limit on entries no
	// checkpoint covers (audit.Options.MaxUncovered); zero skips it.
	MaxUncovered time.Duration
	Logger       *slog.Logger
}

// PeriodError is a from or to the caller got wrong: the API answers 400.
type PeriodError struct{ msg string }

func (e *PeriodError) Error() string { return e.msg }

func periodErrorf(format string, args ...any) error {
	return &PeriodError{fmt.Sprintf(format, args...)}
}

// parseBound reads a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func parseBound(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, periodErrorf("%s must be a date (2026-07-01) or an RFC 3339 time (2026-07-01T00:00:00Z), not %q", name, v)
	}
	return t.UTC(), nil
}

// ParsePeriod reads the period [from, to): from is required, to defaults
// to now and is cut to now when later (the bundle cannot hold the
// future). Errors are *PeriodError.
func ParsePeriod(from, to string, now time.Time) (time.Time, time.Time, error) {
	if from == "" {
		return time.Time{}, time.Time{}, periodErrorf("from is required: the start of the period, a date (2026-07-01) or an RFC 3339 time")
	}
	f, err := parseBound("from", from)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	t := now.UTC()
	if to != "" {
		if t, err = parseBound("to", to); err != nil {
			return time.Time{}, time.Time{}, err
		}
		if t.After(now) {
			t = now.UTC()
		}
	}
	switch {
	case !f.Before(now):
		return time.Time{}, time.Time{}, periodErrorf("from %s is not in the past", f.Format(time.RFC3339))
	case !f.Before(t):
		return time.Time{}, time.Time{}, periodErrorf("from %s must be before to %s", f.Format(time.RFC3339), t.Format(time.RFC3339))
	case t.Sub(f) > MaxPeriod:
		return time.Time{}, time.Time{}, periodErrorf("the period from %s to %s is longer than %d days; export it in parts", f.Format(time.DateOnly), t.Format(time.DateOnly), int(MaxPeriod.Hours()/24))
	}
	return f, t, nil
}

// Summary is what an export wrote.
type Summary struct {
	Manifest bundle.Manifest
	// Bytes is the zip's size.
	Bytes int64
}

// Export writes the bundle for opt's period to w as a zip, streaming.
// When it fails part way, w has a truncated zip that no reader accepts.
func Export(ctx context.Context, w io.Writer, opt Options) (Summary, error) {
	if opt.Registry == nil || opt.Key == nil {
		return Summary{}, errors.New("evidence export: needs the registry and the command-signing key")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	cw := &countingWriter{w: w}
	b := &builder{opt: opt, bw: bundle.NewWriter(cw, opt.Now), reg: opt.Registry}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"register", b.register},
		{"inventory", b.inventory},
		{"changes", b.changes},
		{"compliance", b.compliance},
		{"exceptions", b.exceptions},
		{"sanitisation", b.sanitisation},
		{"access review", b.accessReview},
		{"audit log", b.auditLog},
		{"index", b.index},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return Summary{}, fmt.Errorf("evidence export: %s: %w", s.name, err)
		}
		opt.Logger.Debug("evidence section written", "section", s.name, "took", time.Since(start), "bytes", cw.n)
	}
	m := bundle.Manifest{
		From: opt.From.UTC(), To: opt.To.UTC(), Collector: opt.Collector, KeyID: opt.Key.KeyID(),
		ExportedAt: opt.Now.UTC(), Exporter: opt.Exporter.Name, ExporterID: opt.Exporter.ID,
	}
	if _, err := b.bw.Close(m, opt.Key.Sign); err != nil {
		return Summary{}, fmt.Errorf("evidence export: %w", err)
	}
	m.Format, m.Files = bundle.Format, b.bw.Files()
	return Summary{Manifest: m, Bytes: cw.n}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
