// Package metrics holds the collector's Prometheus metrics on a registry of
// its own (never a process-global one, so tests and several collectors in
// one process stay apart): reports received, applied and rejected, ingest
// latency, and devices by state, read from the registry at each scrape.
//
// It writes the Prometheus text exposition format (version 0.0.4) itself:
// five metrics do not need client_golang's dependency tree.
package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBuckets are the ingest histogram's upper bounds in seconds.
func DefaultBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Metrics is the collector's set of metrics.
type Metrics struct {
	mu       sync.Mutex
	received map[string]uint64
	applied  map[string]uint64
	rejected map[string]uint64
	buckets  []float64
	counts   []uint64 // per bucket, not cumulative
	sum      float64
	total    uint64
	devices  func(ctx context.Context) (map[string]int, error)
	logger   *slog.Logger
}

// New returns empty metrics.
func New() *Metrics {
	b := DefaultBuckets()
	return &Metrics{
		received: map[string]uint64{},
		applied:  map[string]uint64{},
		rejected: map[string]uint64{},
		buckets:  b,
		counts:   make([]uint64, len(b)),
		logger:   slog.New(slog.DiscardHandler),
	}
}

// SetDeviceSource sets what roster_devices is read from at each scrape
// (registry.CountDevicesByState), and where a failing read is logged.
func (m *Metrics) SetDeviceSource(f func(ctx context.Context) (map[string]int, error), logger *slog.Logger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.devices = f
	if logger != nil {
		m.logger = logger
	}
}

// ReportReceived counts a decoded report of kind.
func (m *Metrics) ReportReceived(kind string) { m.inc(m.received, kind) }

// ReportApplied counts an applied report of kind.
func (m *Metrics) ReportApplied(kind string) { m.inc(m.applied, kind) }

// ReportRejected counts a refused report by reason (the API error code, or
// resync).
func (m *Metrics) ReportRejected(reason string) { m.inc(m.rejected, reason) }

func (m *Metrics) inc(c map[string]uint64, label string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	c[label]++
	m.mu.Unlock()
}

// ObserveIngest records how long one report took to handle.
func (m *Metrics) ObserveIngest(d time.Duration) {
	if m == nil {
		return
	}
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sum += s
	m.total++
	for i, ub := range m.buckets {
		if s <= ub {
			m.counts[i]++
			return
		}
	}
}

// Handler serves the metrics in the text exposition format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.WriteTo(r.Context(), w)
	})
}

// WriteTo writes every metric to w.
func (m *Metrics) WriteTo(ctx context.Context, w io.Writer) {
	m.mu.Lock()
	source := m.devices
	m.mu.Unlock()
	var devices map[string]int
	if source != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		devices, err = source(ctx)
		cancel()
		if err != nil {
			m.logger.Warn("metrics: count devices", "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	writeCounter(w, "roster_reports_received_total", "Reports decoded, by kind.", "kind", m.received)
	writeCounter(w, "roster_reports_applied_total", "Reports applied to the registry, by kind.", "kind", m.applied)
	writeCounter(w, "roster_reports_rejected_total", "Reports refused, by reason.", "reason", m.rejected)
	fmt.Fprintf(w, "# HELP roster_ingest_seconds Time to handle one report.\n# TYPE roster_ingest_seconds histogram\n")
	var cum uint64
	for i, ub := range m.buckets {
		cum += m.counts[i]
		fmt.Fprintf(w, "roster_ingest_seconds_bucket{le=%q} %d\n", formatFloat(ub), cum)
	}
	fmt.Fprintf(w, "roster_ingest_seconds_bucket{le=\"+Inf\"} %d\n", m.total)
	fmt.Fprintf(w, "roster_ingest_seconds_sum %s\nroster_ingest_seconds_count %d\n", formatFloat(m.sum), m.total)
	if devices != nil {
		fmt.Fprintf(w, "# HELP roster_devices Devices in the registry, by state.\n# TYPE roster_devices gauge\n")
		for _, k := range sortedKeys(devices) {
			fmt.Fprintf(w, "roster_devices{state=\"%s\"} %d\n", escapeLabel(k), devices[k])
		}
	}
}

func writeCounter(w io.Writer, name, help, label string, c map[string]uint64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	for _, k := range sortedKeys(c) {
		fmt.Fprintf(w, "%s{%s=\"%s\"} %d\n", name, label, escapeLabel(k), c[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// escapeLabel escapes a label value as the exposition format requires.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
