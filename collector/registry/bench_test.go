package registry_test

import (
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// BenchmarkApply measures one device's reports: small deltas (one package
// upgraded) and full reports of a real snapshot.
func BenchmarkApply(b *testing.B) {
	for _, kind := range []string{wire.ReportDelta, wire.ReportFull} {
		b.Run(kind, func(b *testing.B) {
			e := newEnvB(b)
			snap := registrytest.Rich(b)
			d := e.enrollB(b, snap)
			cur := snap
			if _, err := e.applyB(d, fullB(b, cur, 1)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq := uint64(i + 2)
				next := registrytest.Clone(b, cur)
				next.CollectedAt = next.CollectedAt.Add(time.Minute)
				next.Software.Packages[i%len(next.Software.Packages)].Version += "x"
				var rep *wire.Report
				if kind == wire.ReportDelta {
					dl, err := wire.Diff(cur, next)
					if err != nil {
						b.Fatal(err)
					}
					rep = &wire.Report{ProtocolVersion: 1, Kind: kind, Seq: seq, BaseHash: registrytest.Hash(b, cur), Delta: dl, Hash: registrytest.Hash(b, next)}
				} else {
					rep = fullB(b, next, seq)
				}
				b.StartTimer()
				ack, err := e.applyB(d, rep)
				b.StopTimer()
				if err != nil || ack.Status != wire.AckApplied {
					b.Fatalf("%v %+v", err, ack)
				}
				cur = next
			}
		})
	}
}
