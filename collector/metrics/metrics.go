// Package metrics holds the collector's Prometheus metrics on a registry of
// its own (never the process-global default, so tests and several
// collectors in one process stay apart): reports received, applied and
// rejected, ingest latency, heartbeats by outcome, and devices by state,
// read from the registry at each scrape. It is built on prometheus/client_golang.
package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// DefaultBuckets are the ingest histogram's upper bounds in seconds.
func DefaultBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Metrics is the collector's set of metrics.
type Metrics struct {
	reg      *prometheus.Registry
	received *prometheus.CounterVec
	applied  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	ingest   prometheus.Histogram
	beats    *prometheus.CounterVec
	jobRuns  *prometheus.CounterVec
	jobHeld  *prometheus.GaugeVec
	purged   *prometheus.CounterVec
	devices  *deviceCollector
}

// New returns empty metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_reports_received_total", Help: "Reports decoded, by kind.",
		}, []string{"kind"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_reports_applied_total", Help: "Reports applied to the registry, by kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_reports_rejected_total", Help: "Reports refused, by reason.",
		}, []string{"reason"}),
		ingest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "roster_ingest_seconds", Help: "Time to handle one report.", Buckets: DefaultBuckets(),
		}),
		beats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_heartbeats_total", Help: "Heartbeats answered, by status: ok, resync, or the API error code of a refused one.",
		}, []string{"status"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_job_runs_total", Help: "Periods of each periodic job this collector ran (it held the job's lease; with several collectors on one store, one runs each job).",
		}, []string{"job"}),
		jobHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "roster_job_lease_held", Help: "1 when this collector holds the periodic job's lease and runs it, else 0.",
		}, []string{"job"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_retention_purged_rows_total", Help: "Rows the retention purge removed (or edited, for disposed owners), by kind of data and table.",
		}, []string{"kind", "table"}),
		devices: &deviceCollector{
			desc:   prometheus.NewDesc("roster_devices", "Devices in the registry, by state.", []string{"state"}, nil),
			logger: slog.New(slog.DiscardHandler),
		},
	}
	m.reg.MustRegister(m.received, m.applied, m.rejected, m.ingest, m.beats, m.jobRuns, m.jobHeld, m.purged, m.devices)
	return m
}

// SetDeviceSource sets what roster_devices is read from at each scrape
// (registry.CountDevicesByState), and where a failing read is logged.
func (m *Metrics) SetDeviceSource(f func(ctx context.Context) (map[string]int, error), logger *slog.Logger) {
	m.devices.mu.Lock()
	defer m.devices.mu.Unlock()
	m.devices.source = f
	if logger != nil {
		m.devices.logger = logger
	}
}

// ReportReceived counts a decoded report of kind.
func (m *Metrics) ReportReceived(kind string) {
	if m != nil {
		m.received.WithLabelValues(kind).Inc()
	}
}

// ReportApplied counts an applied report of kind.
func (m *Metrics) ReportApplied(kind string) {
	if m != nil {
		m.applied.WithLabelValues(kind).Inc()
	}
}

// ReportRejected counts a refused report by reason (the API error code, or
// resync).
func (m *Metrics) ReportRejected(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

// ObserveIngest records how long one report took to handle.
func (m *Metrics) ObserveIngest(d time.Duration) {
	if m != nil {
		m.ingest.Observe(d.Seconds())
	}
}

// Heartbeat counts a heartbeat by status: ok, resync, or the API error code
// it was refused with.
func (m *Metrics) Heartbeat(status string) {
	if m != nil {
		m.beats.WithLabelValues(status).Inc()
	}
}

// JobPeriod records whether this collector runs periodic job this
// period (it holds the job's lease), counting the periods it runs.
func (m *Metrics) JobPeriod(job string, runs bool) {
	if m == nil {
		return
	}
	if runs {
		m.jobRuns.WithLabelValues(job).Inc()
		m.jobHeld.WithLabelValues(job).Set(1)
		return
	}
	m.jobRuns.WithLabelValues(job).Add(0)
	m.jobHeld.WithLabelValues(job).Set(0)
}

// RetentionPurged counts rows the retention purge removed of a kind's
// table.
func (m *Metrics) RetentionPurged(kind, table string, rows int64) {
	if m != nil {
		m.purged.WithLabelValues(kind, table).Add(float64(rows))
	}
}

// Handler serves the metrics (content negotiated by promhttp).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// WriteTo writes every metric to w in the text exposition format.
func (m *Metrics) WriteTo(_ context.Context, w io.Writer) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// deviceCollector reads device counts from the registry at scrape time, so
// the gauge is never stale and costs nothing between scrapes.
type deviceCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	source func(ctx context.Context) (map[string]int, error)
	logger *slog.Logger
}

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	source, logger := c.source, c.logger
	c.mu.Unlock()
	if source == nil {
		return
	}
	// prometheus.Collector has no context; bound the read ourselves.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := source(ctx)
	if err != nil {
		logger.Warn("metrics: count devices", "err", err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}
