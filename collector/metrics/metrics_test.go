package metrics

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExposition(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetDeviceSource(func(context.Context) (map[string]int, error) {
		return map[string]int{"active": 3, "revoked": 1, "identity_conflict": 0}, nil
	}, nil)
	m.ReportReceived("full")
	m.ReportReceived("full")
	m.ReportApplied("full")
	m.ReportRejected(`we"ird`)
	m.ObserveIngest(3 * time.Millisecond)
	m.ObserveIngest(20 * time.Second)
	m.Heartbeat("ok")
	m.Heartbeat("ok")
	m.Heartbeat("resync")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	var got []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	// client_golang orders families by name and label values within them.
	want := []string{
		`roster_devices{state="active"} 3`,
		`roster_devices{state="identity_conflict"} 0`,
		`roster_devices{state="revoked"} 1`,
		`roster_heartbeats_total{status="ok"} 2`,
		`roster_heartbeats_total{status="resync"} 1`,
		`roster_ingest_seconds_bucket{le="0.001"} 0`,
		`roster_ingest_seconds_bucket{le="0.0025"} 0`,
		`roster_ingest_seconds_bucket{le="0.005"} 1`,
		`roster_ingest_seconds_bucket{le="0.01"} 1`,
		`roster_ingest_seconds_bucket{le="0.025"} 1`,
		`roster_ingest_seconds_bucket{le="0.05"} 1`,
		`roster_ingest_seconds_bucket{le="0.1"} 1`,
		`roster_ingest_seconds_bucket{le="0.25"} 1`,
		`roster_ingest_seconds_bucket{le="0.5"} 1`,
		`roster_ingest_seconds_bucket{le="1"} 1`,
		`roster_ingest_seconds_bucket{le="2.5"} 1`,
		`roster_ingest_seconds_bucket{le="5"} 1`,
		`roster_ingest_seconds_bucket{le="10"} 1`,
		`roster_ingest_seconds_bucket{le="+Inf"} 2`,
		`roster_ingest_seconds_sum 20.003`,
		`roster_ingest_seconds_count 2`,
		`roster_reports_applied_total{kind="full"} 1`,
		`roster_reports_received_total{kind="full"} 2`,
		`roster_reports_rejected_total{reason="we\"ird"} 1`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}

func TestDeviceSourceFailureKeepsOtherMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetDeviceSource(func(context.Context) (map[string]int, error) { return nil, errors.New("database closed") }, nil)
	m.ReportApplied("delta")
	var b bytes.Buffer
	if err := m.WriteTo(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `roster_reports_applied_total{kind="delta"} 1`) {
		t.Errorf("applied counter missing:\n%s", b.String())
	}
	if strings.Contains(b.String(), "roster_devices{") {
		t.Errorf("device gauge written from a failed read:\n%s", b.String())
	}
}

func TestSeparateInstances(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	a.ReportApplied("full")
	var buf bytes.Buffer
	if err := b.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "roster_reports_applied_total{") {
		t.Errorf("a's counter shows in b:\n%s", buf.String())
	}
}
