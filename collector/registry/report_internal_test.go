package registry

import (
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// TestReportDecisions: what a report does, decided without a database
// from the device's stored state (replayAck, needsStoredSnapshot,
// decideReport).
func TestReportDecisions(t *testing.T) {
	t.Parallel()
	canon := func(host string) *canonSnap {
		c, err := slowCanon(&wire.Snapshot{ProtocolVersion: 1, CollectedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			Platform: "linux", Hardware: &wire.Hardware{Hostname: host}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old, next := canon("old"), canon("new")
	full := &wire.Report{Kind: wire.ReportFull, Seq: 5, Hash: next.hash, Snapshot: next.snap}
	badFull := &wire.Report{Kind: wire.ReportFull, Seq: 5, Hash: old.hash, Snapshot: next.snap}
	delta := &wire.Report{Kind: wire.ReportDelta, Seq: 5, BaseHash: old.hash, Hash: next.hash,
		Delta: &wire.Delta{CollectedAt: next.snap.CollectedAt, Platform: "linux", Set: []string{wire.AreaHardware}, Hardware: next.snap.Hardware}}
	known := reportDevice{lastSeq: 4, lastHash: old.hash}
	pre := func(rep *wire.Report, base *canonSnap) *result { r := work(rep, base); return &r }

	tests := []struct {
		name      string
		rep       *wire.Report
		cur       reportDevice
		seen      bool
		pre       *result
		stored    *canonSnap
		replay    bool
		needs     bool
		want      string // wire.AckApplied, AckResync or "error"
		wantStore bool   // the result diffs against stored
	}{
		{name: "seq applied already", rep: full, cur: known, seen: true, replay: true},
		{name: "seq below the last", rep: full, cur: reportDevice{lastSeq: 9, lastHash: old.hash}, replay: true},
		{name: "full", rep: full, cur: known, pre: pre(full, nil), stored: old, needs: true, want: wire.AckApplied, wantStore: true},
		{name: "first full", rep: full, cur: reportDevice{}, pre: pre(full, nil), needs: true, want: wire.AckApplied},
		{name: "full with a wrong hash", rep: badFull, cur: known, pre: pre(badFull, nil), want: "error"},
		{name: "delta, base cached", rep: delta, cur: known, pre: pre(delta, old), want: wire.AckApplied},
		{name: "delta, base read from the store", rep: delta, cur: known, stored: old, needs: true, want: wire.AckApplied},
		{name: "delta, stored base is another", rep: delta, cur: known, stored: next, needs: true, want: wire.AckResync},
		{name: "delta on a device with no snapshot", rep: delta, cur: reportDevice{lastSeq: 1}, want: wire.AckResync},
		{name: "delta on another base", rep: delta, cur: reportDevice{lastSeq: 4, lastHash: next.hash}, pre: pre(delta, old), want: wire.AckResync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ack, replay := replayAck(tt.rep, "d1", tt.cur, tt.seen)
			if replay != tt.replay {
				t.Fatalf("replay = %v, want %v", replay, tt.replay)
			}
			if replay {
				if ack.Status != wire.AckDuplicate || ack.Hash != tt.cur.lastHash || ack.Seq != tt.rep.Seq || ack.DeviceID != "d1" {
					t.Errorf("replay ack %+v", ack)
				}
				return
			}
			if got := needsStoredSnapshot(tt.rep, tt.cur, tt.pre); got != tt.needs {
				t.Errorf("needsStoredSnapshot = %v, want %v", got, tt.needs)
			}
			res, ack, err := decideReport(tt.rep, "d1", tt.cur, tt.pre, tt.stored)
			switch tt.want {
			case "error":
				if !errors.Is(err, ErrBadReport) || res != nil {
					t.Errorf("got %v, %v; want ErrBadReport", res, err)
				}
			case wire.AckResync:
				if err != nil || res != nil || ack.Status != wire.AckResync || ack.Hash != tt.cur.lastHash {
					t.Errorf("got %v, %+v, %v; want a resync naming the stored hash", res, ack, err)
				}
			default:
				if err != nil || res == nil || res.next.hash != next.hash {
					t.Fatalf("got %v, %+v, %v; want the new snapshot to write", res, ack, err)
				}
				if (res.base == old) != tt.wantStore && tt.rep.Kind == wire.ReportFull {
					t.Errorf("full report's base = %v, want the stored snapshot: %v", res.base, tt.wantStore)
				}
			}
		})
	}
}
