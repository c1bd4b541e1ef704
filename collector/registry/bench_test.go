package registry_test

import (
	"testing"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// largest is the captured host snapshot with the most packages: the
// heaviest real report the testdata holds.
func largest(b *testing.B) *wire.Snapshot {
	var best *wire.Snapshot
	for _, s := range registrytest.Snapshots(b) {
		if s.Software != nil && (best == nil || len(s.Software.Packages) > len(best.Software.Packages)) {
			best = s
		}
	}
	if best == nil {
		b.Fatal("no snapshot with software")
	}
	return registrytest.Clone(b, best)
}

// toggled returns a snapshot and a copy with one package's version
// changed, the small real change a day's upgrade brings.
func toggled(b *testing.B) (a, c *wire.Snapshot) {
	a = largest(b)
	c = registrytest.Clone(b, a)
	p := &c.Software.Packages[len(c.Software.Packages)/2]
	p.Version += "+bench1"
	return a, c
}

// BenchmarkApplyDelta measures a stream of small deltas for one device,
// alternating between two real states (one package's version toggled), as
// roster-loadgen --kind delta sends them. Reports are built beforehand so
// only ApplyReport is timed.
func BenchmarkApplyDelta(b *testing.B) {
	b.Run("audit", func(b *testing.B) { benchApplyDelta(b, true) })
	b.Run("no-audit", func(b *testing.B) { benchApplyDelta(b, false) })
}

// benchApplyDelta runs BenchmarkApplyDelta with changing reports audited
// (the default) or not (audit.device_reports: false).
func benchApplyDelta(b *testing.B, audited bool) {
	e := newEnvB(b)
	e.reg.SetAuditReports(audited)
	a, c := toggled(b)
	d := e.enrollB(b, a)
	if ack, err := e.applyB(d, fullB(b, a, 1)); err != nil || ack.Status != wire.AckApplied {
		b.Fatalf("first full report: %v %+v", err, ack)
	}
	ab, err := wire.Diff(a, c)
	if err != nil {
		b.Fatal(err)
	}
	ba, err := wire.Diff(c, a)
	if err != nil {
		b.Fatal(err)
	}
	ha, hc := registrytest.Hash(b, a), registrytest.Hash(b, c)
	reps := [2]wire.Report{
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, BaseHash: ha, Delta: ab, Hash: hc},
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, BaseHash: hc, Delta: ba, Hash: ha},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rep := reps[i%2]
		rep.Seq = uint64(i + 2)
		ack, err := e.applyB(d, &rep)
		if err != nil || ack.Status != wire.AckApplied {
			b.Fatalf("seq %d: %v %+v", rep.Seq, err, ack)
		}
	}
}

// BenchmarkApplyFull measures full reports of the same two states: every
// report carries the whole snapshot, one package differs from the last.
func BenchmarkApplyFull(b *testing.B) {
	e := newEnvB(b)
	a, c := toggled(b)
	d := e.enrollB(b, a)
	if ack, err := e.applyB(d, fullB(b, a, 1)); err != nil || ack.Status != wire.AckApplied {
		b.Fatalf("first full report: %v %+v", err, ack)
	}
	reps := [2]*wire.Report{fullB(b, c, 0), fullB(b, a, 0)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rep := *reps[i%2]
		rep.Seq = uint64(i + 2)
		ack, err := e.applyB(d, &rep)
		if err != nil || ack.Status != wire.AckApplied {
			b.Fatalf("seq %d: %v %+v", rep.Seq, err, ack)
		}
	}
}
