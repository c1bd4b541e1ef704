package registry_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
)

// BenchmarkDailyComplianceRates times a quarter's daily rates for every
// policy and the fleet, and for one policy, over a synthetic history of
// ROSTER_BENCH_DEVICES devices (default 10,000) × 10 policies × 90 days
// in which a tenth of the devices change one status each day.
func BenchmarkDailyComplianceRates(b *testing.B) {
	n := 10000
	if v := os.Getenv("ROSTER_BENCH_DEVICES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ROSTER_BENCH_DEVICES=%q", v)
		}
	}
	const days, policies = 90, 10
	e := newEnvB(b)
	ctx := context.Background()
	from := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	pols, rows, err := registry.SeedComplianceHistory(ctx, e.reg, n, policies, days, from)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d devices, %d transitions", n, rows)
	to := from.Add(days * 24 * time.Hour)
	for _, bb := range []struct{ name, policy string }{{"all", ""}, {"one", pols[3]}} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				got, err := e.reg.DailyComplianceRates(ctx, bb.policy, from, to)
				if err != nil {
					b.Fatal(err)
				}
				// The last day's first row is the fleet's (all) or the policy's.
				perDay := len(got) / days
				if len(got)%days != 0 || got[len(got)-perDay].InScope != n {
					b.Fatalf("%d rows, last day's first %+v; want %d devices in scope", len(got), got[len(got)-perDay], n)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/query")
		})
	}
}
