package checkin

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/shared/wire"
)

// TestProtocolFollowsTheCollector: the agent sends protocol version 2
// reports (hashes of the second form) and heartbeats only after an ack
// said its collector speaks it; when a collector refuses them (an older
// release answering under the same name) it goes back to version 1, a
// refused report made up for with a full one, and moves up again when
// told.
func TestProtocolFollowsTheCollector(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	ctx := context.Background()
	step := 0
	report := func() {
		t.Helper()
		step++
		f.m.set(fmt.Sprintf("step%d", step), "1")
		if _, err := f.sender.SendSnapshot(ctx, f.m.snapshot(), false); err != nil {
			t.Fatalf("report %d: %v", step, err)
		}
	}
	heartbeat := func() {
		t.Helper()
		if _, _, err := f.sender.Heartbeat(ctx, "1.0.0"); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	report()    // version 1: nothing said yet; its ack says 2
	heartbeat() // 2
	report()    // 2, a delta on the first form's hash
	f.col.SpeakProtocol(1)
	if _, _, err := f.sender.Heartbeat(ctx, "1.0.0"); err == nil {
		t.Fatal("a version 2 heartbeat to a version 1 collector: no error")
	}
	heartbeat() // 1 after the refusal
	report()    // 1
	f.col.SpeakProtocol(2)
	report() // 1, whose ack says 2
	f.col.SpeakProtocol(1)
	report()    // 2: refused, made up for with a full report of version 1
	heartbeat() // 1
	report()    // 1: the ack said nothing more
	f.col.SpeakProtocol(2)
	report() // 1, whose ack says 2
	report() // 2
	var got []string
	for _, r := range f.col.Requests() {
		s := fmt.Sprintf("%s v%d", r.Kind, r.Protocol)
		if r.Hash != "" {
			s += fmt.Sprintf(" hash v%d", wire.HashVersion(r.Hash))
		}
		if r.Status != 200 {
			s += fmt.Sprintf(" (%d)", r.Status)
		}
		got = append(got, s)
	}
	want := []string{
		"full v1 hash v1",
		"heartbeat v2",
		"delta v2 hash v2",
		"heartbeat v2 (400)",
		"heartbeat v1",
		"delta v1 hash v1",
		"delta v1 hash v1",
		"delta v2 hash v2 (400)",
		"full v1 hash v1",
		"heartbeat v1",
		"delta v1 hash v1",
		"delta v1 hash v1",
		"delta v2 hash v2",
	}
	if diff := cmp.Diff(want, got[len(got)-len(want):]); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	f.wantCollectorHas(t)
}
