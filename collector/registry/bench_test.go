package registry_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// largest is the captured host snapshot with the most packages: the
// heaviest real report the testdata holds.
func largest(b testing.TB) *wire.Snapshot {
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
func toggled(b testing.TB) (a, c *wire.Snapshot) {
	a = largest(b)
	c = registrytest.Clone(b, a)
	p := &c.Software.Packages[len(c.Software.Packages)/2]
	p.Version += "+bench1"
	return a, c
}

// toggling is the two delta reports (seq to be set) that take a device
// from a to c and back.
func toggling(b *testing.B, a, c *wire.Snapshot) [2]wire.Report {
	ab, ba := registrytest.Diff(b, a, c), registrytest.Diff(b, c, a)
	ha, hc := registrytest.Hash(b, a), registrytest.Hash(b, c)
	return [2]wire.Report{
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, BaseHash: ha, Delta: ab, Hash: hc},
		{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, BaseHash: hc, Delta: ba, Hash: ha},
	}
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
	reps := toggling(b, a, c)
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

// BenchmarkApplyDeltaParallel measures small deltas from 48 machines, 8
// in flight at once as roster-loadgen --kind delta sends them (each
// machine's reports one after the other), without the HTTP and TLS around
// them: what group commit and the work done before the write lock give.
// ns/op is per delta, so 1e9/ns is deltas per second.
func BenchmarkApplyDeltaParallel(b *testing.B) {
	const machines, inFlight = 48, 8
	e := newEnvB(b)
	a, c := toggled(b)
	type dev struct {
		enrolled
		reps [2]wire.Report
		seq  uint64
	}
	devs := make([]*dev, machines)
	for i := range devs {
		ai, ci := machine(b, a, i), machine(b, c, i)
		d := &dev{enrolled: e.enrollB(b, ai), seq: 1}
		if ack, err := e.applyB(d.enrolled, fullB(b, ai, 1)); err != nil || ack.Status != wire.AckApplied {
			b.Fatalf("machine %d: first full report: %v %+v", i, err, ack)
		}
		d.reps = toggling(b, ai, ci)
		devs[i] = d
	}
	inFlightMachines(b, machines, inFlight, func(m, _ int) bool {
		d := devs[m]
		rep := d.reps[(d.seq-1)%2]
		d.seq++
		rep.Seq = d.seq
		ack, err := e.applyB(d.enrolled, &rep)
		if err != nil || ack.Status != wire.AckApplied {
			b.Errorf("seq %d: %v %+v", rep.Seq, err, ack)
			return false
		}
		return true
	})
}

// inFlightMachines runs b's iterations the way roster-loadgen sends:
// inFlight workers at once, worker w taking machines w, w+inFlight, … in
// turn, so one machine's operations run one after the other. op(m, n) is
// a worker's n-th operation, for machine m; false stops the worker.
func inFlightMachines(b *testing.B, machines, inFlight int, op func(m, n int) bool) {
	var worker atomic.Int32
	b.SetParallelism(max(1, inFlight/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []int
		for i := int(worker.Add(1)) - 1; i < machines; i += inFlight {
			mine = append(mine, i)
		}
		for n := 0; pb.Next(); n++ {
			if len(mine) == 0 {
				b.Error("more workers than machines")
				return
			}
			if !op(mine[n%len(mine)], n) {
				return
			}
		}
	})
}
