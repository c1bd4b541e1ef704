package registry

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/retention"
)

// BenchmarkPurgeComplianceHistory times the compliance history's purge
// over three years of synthetic history (SeedComplianceHistory: ten
// policies, a tenth of the devices changing one status each day;
// ROSTER_BENCH_DEVICES devices, default 4,000) kept for 1,000 days: the
// first purge, which removes the oldest 95 days, and the next day's, which
// removes one day's rows and checks again every row the rule keeps (each
// device's first results, most of them never changed since). The next
// day's is the steady state, once a day (docs/retention.md).
func BenchmarkPurgeComplianceHistory(b *testing.B) {
	ctx := context.Background()
	devices := 4000
	if v, err := strconv.Atoi(os.Getenv("ROSTER_BENCH_DEVICES")); err == nil && v > 0 {
		devices = v
	}
	const days = 1095
	p := retention.Policy{Rules: []retention.Rule{{Kind: retention.ComplianceHistory, Keep: 1000 * 24 * time.Hour}}}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := from.Add(days * 24 * time.Hour)
	var first, next time.Duration
	for b.Loop() {
		b.StopTimer()
		r := OpenTestStore(b, NewTestStore(b))
		if _, _, err := SeedComplianceHistory(ctx, r, devices, 10, days, from); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rep, err := r.Purge(ctx, p, now)
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		rep2, err := r.Purge(ctx, p, now.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		first, next = first+mid.Sub(start), next+time.Since(mid)
		b.Logf("first purge %v %v; next day %v %v", mid.Sub(start), rep.Kinds[0].Tables, time.Since(mid), rep2.Kinds[0].Tables)
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s/first-purge")
	b.ReportMetric(next.Seconds()/float64(b.N), "s/next-day")
}
