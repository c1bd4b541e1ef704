package checkin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/wipe"
	"github.com/rosterhq/roster/agent/wipe/wipetest"
	"github.com/rosterhq/roster/shared/wire"
)

// fakeExecutor records its runs and returns one erased volume.
type fakeExecutor struct {
	mu   sync.Mutex
	runs []*wire.WipeEvidence // prev of each run
	err  error
}

func (x *fakeExecutor) Run(ctx context.Context, prev *wire.WipeEvidence, checkpoint func(wire.WipeEvidence) error) (wire.WipeEvidence, error) {
	x.mu.Lock()
	x.runs = append(x.runs, prev)
	x.mu.Unlock()
	ev := wire.WipeEvidence{Method: wipe.Method, Tool: "fake", Volumes: []wire.WipedVolume{{Device: "/dev/fake", LUKSVersion: 2, KeyslotsBefore: 2}}}
	if prev != nil {
		ev = *prev
	}
	if err := checkpoint(ev); err != nil {
		return ev, err
	}
	ev.Volumes[0].KeyslotsAfter, ev.Volumes[0].Result = 0, wire.WipeErased
	return ev, x.err
}

func (x *fakeExecutor) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.runs)
}

func (f *fixture) commands(allow bool, x Executor) *Commands {
	return &Commands{Dir: f.dir, Client: f.sender.Client, DeviceID: f.id, Policy: wipe.Policy{GOOS: "linux", Allow: allow},
		Executor: x, Now: f.clk.Now}
}

func (f *fixture) wipeCommand(id, nonce string) wire.Command {
	now := f.clk.Now()
	return wire.Command{ID: id, Kind: wire.CommandWipe, DeviceID: f.id, Nonce: nonce, IssuedAt: now.Add(-time.Minute),
		ExpiresAt: now.Add(72 * time.Hour), Wipe: &wire.WipeCommand{Method: wipe.WipeMethod, Ticket: "HR-123"}}
}

// exchange is what report --once does: a report whose ack carries the
// queued commands, then Process, a report after an executed command, and
// Flush.
func (f *fixture) exchange(t *testing.T, c *Commands) ([]Outcome, error) {
	t.Helper()
	var inbox []wire.SignedCommand
	f.sender.OnCommands = func(cs []wire.SignedCommand) { inbox = append(inbox, cs...) }
	if _, err := f.sender.SendSnapshot(context.Background(), f.m.snapshot(), false); err != nil {
		t.Fatalf("report: %v", err)
	}
	outs, err := c.Process(context.Background(), inbox)
	if err != nil {
		return outs, err
	}
	for _, o := range outs {
		if o.Executed {
			f.m.set("after-wipe", "1")
			if _, err := f.sender.SendSnapshot(context.Background(), f.m.snapshot(), false); err != nil {
				t.Fatalf("report after the command: %v", err)
			}
			break
		}
	}
	return outs, c.Flush(context.Background())
}

// statuses lists what the collector accepted as "id status: reason".
func (f *fixture) statuses() []string {
	var out []string
	for _, s := range f.col.Statuses() {
		line := s.CommandID + " " + s.Status
		if s.Reason != "" {
			line += ": " + s.Reason
		}
		out = append(out, line)
	}
	return out
}

// TestCommandRefusals: every command that must not run is refused with
// its reason, and the executor never runs.
func TestCommandRefusals(t *testing.T) {
	t.Parallel()
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		allow      bool
		goos       string
		command    func(f *fixture) wire.SignedCommand
		wantStatus string
		wantReason string
	}{
		{"wipe not allowed", false, "linux", func(f *fixture) wire.SignedCommand {
			return f.col.Sign(t, f.wipeCommand("w1", "n1"))
		}, wire.CommandRefused, "remote wipe is not enabled on this device (wipe.allow); use the manual path: rosterctl offboard record-wipe"},
		{"macOS", true, "darwin", func(f *fixture) wire.SignedCommand {
			return f.col.Sign(t, f.wipeCommand("w1", "n1"))
		}, wire.CommandNotSupported, "the agent cannot wipe a darwin device (no executor on this platform); use the manual path"},
		{"bad signature", true, "linux", func(f *fixture) wire.SignedCommand {
			sc := f.col.Sign(t, f.wipeCommand("w1", "n1"))
			sc.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(otherKey, sc.Payload))
			return sc
		}, wire.CommandRefused, "signature does not verify with the collector's command key"},
		{"another device", true, "linux", func(f *fixture) wire.SignedCommand {
			c := f.wipeCommand("w1", "n1")
			c.DeviceID = "device-999"
			return f.col.Sign(t, c)
		}, wire.CommandRefused, `command is for device "device-999"`},
		{"expired", true, "linux", func(f *fixture) wire.SignedCommand {
			c := f.wipeCommand("w1", "n1")
			c.IssuedAt, c.ExpiresAt = f.clk.Now().Add(-73*time.Hour), f.clk.Now().Add(-time.Hour)
			return f.col.Sign(t, c)
		}, wire.CommandRefused, "command expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, spool.Options{})
			x := &fakeExecutor{}
			c := f.commands(tt.allow, x)
			c.Policy.GOOS = tt.goos
			f.col.Queue(f.id, tt.command(f))
			outs, err := f.exchange(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != 1 || outs[0].Status != tt.wantStatus || !strings.Contains(outs[0].Reason, tt.wantReason) {
				t.Errorf("outcomes %+v, want one %s containing %q", outs, tt.wantStatus, tt.wantReason)
			}
			if got := f.statuses(); len(got) != 1 || !strings.HasPrefix(got[0], "w1 "+tt.wantStatus+": ") || !strings.Contains(got[0], tt.wantReason) {
				t.Errorf("collector got %q, want one %s with the reason", got, tt.wantStatus)
			}
			if x.count() != 0 {
				t.Errorf("executor ran %d times, want never", x.count())
			}
			// The fake re-sends only until a final status; and the same
			// delivery again would be recognised: nothing new either way.
			if outs, err := f.exchange(t, c); err != nil || len(outs) != 0 || len(f.col.Statuses()) != 1 {
				t.Errorf("second exchange: outcomes %+v, err %v, statuses %d; want nothing new", outs, err, len(f.col.Statuses()))
			}
		})
	}
}

// TestCommandLifecycleInLoop: the service loop takes a wipe from the first
// report's ack and sends delivered, in_progress, a report of the state
// after it, then completed with the evidence; the same command delivered
// again is not carried out twice.
func TestCommandLifecycleInLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	x := &fakeExecutor{}
	f.col.Queue(f.id, f.col.Sign(t, f.wipeCommand("w1", "n1")))
	// The loop's own fixture builds the Loop; give it the handler.
	statuses := make(chan state.Status, 100)
	l := &Loop{Sender: f.sender, Collect: f.m.collect, ReportInterval: time.Hour, HeartbeatInterval: 5 * time.Minute,
		BackoffMin: time.Second, BackoffMax: 8 * time.Second, Clock: f.clk, DeviceID: f.id, Collector: f.col.URL,
		Commands: f.commands(true, x), OnStatus: func(s state.Status) { statuses <- s }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()

	<-f.clk.waits
	var got []string
	for _, r := range f.col.Requests() {
		switch r.Path {
		case ReportPath:
			got = append(got, "report "+r.Kind)
		case CommandStatusPath:
			got = append(got, "status "+r.Kind)
		}
	}
	want := []string{"report full", "status delivered", "status in_progress", "report delta", "status completed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	st := f.col.Statuses()
	if len(st) != 3 || st[2].Evidence == nil || st[2].Evidence.Volumes[0].KeyslotsBefore != 2 || st[2].Evidence.Volumes[0].Result != wire.WipeErased {
		t.Fatalf("statuses %+v, want the last with evidence", st)
	}
	// The final report's ack carried the command again (it was still
	// in_progress there); the heartbeat step must not run it again.
	f.clk.Advance(5 * time.Minute)
	<-f.clk.waits
	if x.count() != 1 || len(f.col.Statuses()) != 3 {
		t.Errorf("executor ran %d times, %d statuses; want 1 and 3", x.count(), len(f.col.Statuses()))
	}
}

// TestCommandReplay: a second genuine command reusing a nonce is refused,
// also by an agent restarted on the same state directory.
func TestCommandReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	x := &fakeExecutor{}
	f.col.Queue(f.id, f.col.Sign(t, f.wipeCommand("w1", "n1")))
	if _, err := f.exchange(t, f.commands(true, x)); err != nil {
		t.Fatal(err)
	}
	// A new handler on a reopened state directory: the journal is on disk.
	dir, err := state.Open(f.dir.Path())
	if err != nil {
		t.Fatal(err)
	}
	f.dir = dir
	f.col.Queue(f.id, f.col.Sign(t, f.wipeCommand("w2", "n1")))
	if _, err := f.exchange(t, f.commands(true, x)); err != nil {
		t.Fatal(err)
	}
	want := []string{"w1 delivered", "w1 in_progress", "w1 completed",
		`w2 refused: nonce "n1" was already used (by command w1, received 2025-03-01T12:00:00Z): a replayed command is never carried out`}
	if diff := cmp.Diff(want, f.statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if x.count() != 1 {
		t.Errorf("executor ran %d times, want 1", x.count())
	}
}

// deliverThenFail has the collector deliver wipe w1 in a report's ack and
// then go down, and returns what the ack carried.
func (f *fixture) deliverThenFail(t *testing.T) []wire.SignedCommand {
	t.Helper()
	var inbox []wire.SignedCommand
	f.sender.OnCommands = func(cs []wire.SignedCommand) { inbox = append(inbox, cs...) }
	f.col.Queue(f.id, f.col.Sign(t, f.wipeCommand("w1", "n1")))
	if _, err := f.sender.SendSnapshot(context.Background(), f.m.snapshot(), false); err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 1 {
		t.Fatalf("the ack carried %d commands, want 1", len(inbox))
	}
	f.col.SetDown(true)
	return inbox
}

// TestCommandOutage: with the collector down after delivering a wipe,
// nothing is erased (the collector has not heard in_progress) and the
// statuses wait on disk; a restarted agent sends them in order and then
// carries the wipe out.
func TestCommandOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	x := &fakeExecutor{}
	inbox := f.deliverThenFail(t)
	outs, err := f.commands(true, x).Process(context.Background(), inbox)
	if err != nil || len(outs) != 1 || outs[0].Status != wire.CommandDelivered {
		t.Fatalf("Process during the outage: %+v, %v; want delivered queued", outs, err)
	}
	if err := f.commands(true, x).Flush(context.Background()); err == nil {
		t.Error("Flush during the outage succeeded")
	}
	if x.count() != 0 || len(f.col.Statuses()) != 0 {
		t.Fatalf("during the outage: %d runs, %d statuses; want none", x.count(), len(f.col.Statuses()))
	}
	f.col.SetDown(false)
	c := f.commands(true, x) // a restarted agent
	if !c.Pending() {
		t.Fatal("nothing pending after the outage")
	}
	if _, err := f.exchange(t, c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"w1 delivered", "w1 in_progress", "w1 completed"}, f.statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if x.count() != 1 || c.Pending() {
		t.Errorf("executor ran %d times, pending %v; want 1, false", x.count(), c.Pending())
	}
}

// TestCommandCancelled: a collector that answers 409 to in_progress
// (cancelled meanwhile) gets no wipe.
func TestCommandCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	x := &fakeExecutor{}
	inbox := f.deliverThenFail(t)
	c := f.commands(true, x)
	if _, err := c.Process(context.Background(), inbox); err != nil {
		t.Fatal(err)
	}
	f.col.SetDown(false)
	f.col.Cancel("w1")
	if _, err := c.Process(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	j, err := f.dir.LoadCommands()
	if err != nil {
		t.Fatal(err)
	}
	if x.count() != 0 || len(j.Entries) != 1 || j.Entries[0].Stage != state.StageAbandoned || len(j.Outbox) != 0 || c.Pending() {
		t.Errorf("after a cancellation: %d runs, journal %+v; want no run and the command abandoned", x.count(), j)
	}
}

// TestCommandResume: a wipe interrupted after its checkpoint (the agent
// died mid-erase) is resumed with the checkpoint at the next Process.
func TestCommandResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	cmd := f.wipeCommand("w1", "n1")
	sc := f.col.Sign(t, cmd)
	f.col.Queue(f.id, sc)
	// The collector heard delivered and in_progress before the crash.
	x := &fakeExecutor{}
	func() {
		defer func() {
			if r := recover(); r != errCrash {
				t.Fatalf("recovered %v, want the simulated crash", r)
			}
		}()
		_, _ = f.exchange(t, f.commands(true, crashExecutor{}))
	}()
	if diff := cmp.Diff([]string{"w1 delivered", "w1 in_progress"}, f.statuses()); diff != "" {
		t.Fatalf("statuses before the crash (-want +got):\n%s", diff)
	}
	c := f.commands(true, x)
	outs, err := c.Process(context.Background(), nil)
	if err != nil || len(outs) != 1 || outs[0].Status != wire.CommandCompleted || !outs[0].Executed {
		t.Fatalf("resume: %+v, %v", outs, err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if x.count() != 1 || x.runs[0] == nil || x.runs[0].Volumes[0].KeyslotsBefore != 3 {
		t.Errorf("resumed run got checkpoint %+v, want the crashed run's (3 keyslots before)", x.runs)
	}
	if st := f.col.Statuses(); len(st) != 3 || st[2].Status != wire.CommandCompleted || st[2].Evidence.Volumes[0].KeyslotsBefore != 3 {
		t.Errorf("statuses %+v", st)
	}
}

// crashExecutor checkpoints, then stops the way a dead process would
// (a panic the test recovers): the journal keeps the checkpoint, and no
// result is queued.
type crashExecutor struct{}

func (crashExecutor) Run(ctx context.Context, prev *wire.WipeEvidence, checkpoint func(wire.WipeEvidence) error) (wire.WipeEvidence, error) {
	ev := wire.WipeEvidence{Method: wipe.Method, Volumes: []wire.WipedVolume{{Device: "/dev/fake", KeyslotsBefore: 3}}}
	if err := checkpoint(ev); err != nil {
		return ev, err
	}
	panic(errCrash)
}

var errCrash = errors.New("crash")

// TestWipeLoopDevice erases a real LUKS2 volume on a loop device through
// the whole agent side: the fake collector delivers the signed command,
// the agent reports delivered, in_progress, then completed with evidence,
// and cryptsetup afterwards finds no keyslot and the passphrase no longer
// opens the volume. A refused command on another volume leaves its
// keyslots intact.
func TestWipeLoopDevice(t *testing.T) {
	wipetest.Need(t)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		allow  bool
		change func(f *fixture, c *wire.Command)
		forge  bool // signed by another key
	}{
		{"allowed", true, nil, false},
		{"not allowed", false, nil, false},
		{"bad signature", true, nil, true},
		{"another device", true, func(f *fixture, c *wire.Command) { c.DeviceID = "device-999" }, false},
		{"expired", true, func(f *fixture, c *wire.Command) { c.ExpiresAt = f.clk.Now().Add(-time.Second) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vol := wipetest.NewVolume(t, "luks2", 2)
			dev := vol.Dev
			f := newFixture(t, spool.Options{})
			c := f.commands(tt.allow, &wipe.Executor{Host: host.Live("linux"), Targets: []string{dev}})
			cmd := f.wipeCommand("w1", "n1")
			if tt.change != nil {
				tt.change(f, &cmd)
			}
			sc := f.col.Sign(t, cmd)
			if tt.forge {
				sc.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(otherKey, sc.Payload))
			}
			f.col.Queue(f.id, sc)
			if _, err := f.exchange(t, c); err != nil {
				t.Fatal(err)
			}
			st := f.col.Statuses()
			opens, dump := vol.Opens(), vol.Dump(t)
			if tt.name != "allowed" {
				if len(st) != 1 || st[0].Status != wire.CommandRefused || dump.ActiveKeyslots() != 2 || !opens {
					t.Errorf("refused wipe: statuses %+v, %d keyslots, opens %v; want refused, 2, true", st, dump.ActiveKeyslots(), opens)
				}
				return
			}
			if len(st) != 3 || st[0].Status != wire.CommandDelivered || st[1].Status != wire.CommandInProgress || st[2].Status != wire.CommandCompleted {
				t.Fatalf("statuses %+v, want delivered, in_progress, completed", st)
			}
			ev := st[2].Evidence
			if ev == nil || ev.Method != wipe.Method || ev.Tool != "cryptsetup" || ev.ToolVersion == "" || len(ev.Volumes) != 1 {
				t.Fatalf("evidence %+v", ev)
			}
			v := ev.Volumes[0]
			if v.Device != dev || v.LUKSVersion != 2 || v.LUKSUUID != dump.UUID || v.KeyslotsBefore != 2 || v.KeyslotsAfter != 0 || v.Result != wire.WipeErased {
				t.Errorf("volume %+v, want %s LUKS2 %s 2→0 erased", v, dev, dump.UUID)
			}
			if dump.ActiveKeyslots() != 0 || opens {
				t.Errorf("after the wipe: %d keyslots, opens %v; want 0, false", dump.ActiveKeyslots(), opens)
			}
		})
	}
}
