package registry_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/assetcsv"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/evidence"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// BenchmarkEvidenceExport times the evidence bundle (collector/evidence)
// of a 90-day period for a fleet of ROSTER_BENCH_DEVICES devices (default
// 10,000): the devices with their facts, one asset each in the register,
// ten policies' compliance history with a tenth of the fleet changing
// status every day, and 5,000 audit entries under a signed checkpoint. It
// reports the export's time, the bundle's size and the heap's peak above
// what it was before the export (the bundle is streamed, so the peak
// should not grow with the fleet). It lives here, not in
// collector/evidence, for the registry's seeding helpers.
func BenchmarkEvidenceExport(b *testing.B) {
	n := 10000
	if v := os.Getenv("ROSTER_BENCH_DEVICES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ROSTER_BENCH_DEVICES=%q", v)
		}
	}
	const days, policies, auditEntries = 90, 10, 5000
	e := newEnvB(b)
	ctx := context.Background()
	// The audit log is written at the wall clock's time, so the period is
	// the 90 days up to now, and everything else is seeded in it.
	now := time.Now().UTC()
	from := now.AddDate(0, 0, -days)

	snaps := registrytest.Snapshots(b)
	var names []string
	for name := range snaps {
		names = append(names, name)
	}
	slices.Sort(names)
	var facts []compliance.Facts
	for _, name := range names {
		facts = append(facts, compliance.FactsFromSnapshot(snaps[name]))
	}
	if err := registry.SeedFleet(ctx, e.reg, n, facts, [][]wire.Package{nil}, from); err != nil {
		b.Fatal(err)
	}
	if _, _, err := registry.SeedComplianceHistory(ctx, e.reg, n, policies, days, from); err != nil {
		b.Fatal(err)
	}
	rows := make([]assetcsv.Row, n)
	for i := range rows {
		serial := fmt.Sprintf("SN%08d", i)
		rows[i] = assetcsv.Row{Line: i + 2, AssetTag: fmt.Sprintf("LAP-%06d", i), SerialRaw: serial, Serial: serial, Type: "laptop",
			Owner: fmt.Sprintf("Owner %d", i), OwnerEmail: fmt.Sprintf("owner%d@example.com", i), Classification: "internal", Status: "in_service", Columns: assetcsv.Columns()}
	}
	if res, err := e.reg.ImportAssets(ctx, rows, nil, registry.ImportOptions{Actor: registry.Actor{ID: "p-bench", Name: "bench"}, Now: from}); err != nil || len(res.Errors) > 0 {
		b.Fatalf("import the register: %v %v", err, res.Errors)
	}
	actx := access.WithActor(ctx, access.Actor{Principal: access.Principal{ID: "p-bench", Name: "bench", Kind: "person", Role: access.Admin}})
	for i := range auditEntries {
		if err := e.reg.AuditOutside(actx, "bench.read", fmt.Sprintf("device:%d", i), audit.OK, map[string]int{"i": i}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.reg.Checkpoint(ctx, e.ca.Command.KeyID(), e.ca.Command.Sign, time.Now()); err != nil {
		b.Fatal(err)
	}
	opt := evidence.Options{Registry: e.reg, Key: e.ca.Command, From: from, To: time.Now().UTC(), Now: time.Now().UTC(),
		Exporter: access.Principal{ID: "p-bench", Name: "bench"}, Collector: "bench"}

	var size int64
	var peak atomic.Uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
					peak.Store(m.HeapAlloc - base)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		var w countWriter
		sum, err := evidence.Export(ctx, &w, opt)
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		size = sum.Bytes
		if len(sum.Manifest.Files) < 20 {
			b.Fatalf("bundle has %d files", len(sum.Manifest.Files))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/export")
	b.ReportMetric(float64(size)/(1<<20), "bundle-MiB")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "devices")
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
