package checkin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/spool"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/transport/transporttest"
	"github.com/rosterhq/roster/shared/wire"
)

// fakeClock is driven by the test: After announces each wait on waits,
// and Advance moves time and fires what is due. The loop never sleeps in
// real time, so each test step is "receive the wait the loop parked on,
// look, advance".
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	waits   chan time.Duration
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.waits <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// machine is the inventory the fake Collect returns.
type machine struct {
	mu   sync.Mutex
	pkgs map[string]string // name → version
	clk  *fakeClock
}

func newMachine(clk *fakeClock, n int) *machine {
	m := &machine{pkgs: map[string]string{}, clk: clk}
	for i := range n {
		m.pkgs[fmt.Sprintf("pkg%02d", i)] = "1.0"
	}
	return m
}

func (m *machine) set(name, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version == "" {
		delete(m.pkgs, name)
	} else {
		m.pkgs[name] = version
	}
}

func (m *machine) snapshot() *wire.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, CollectedAt: m.clk.Now(), Platform: wire.PlatformLinux,
		Software: &wire.Software{Packages: []wire.Package{}}}
	for n, v := range m.pkgs {
		s.Software.Packages = append(s.Software.Packages, wire.Package{Source: "rpm", Name: n, Version: v, Arch: "x86_64"})
	}
	wire.SortPackages(s.Software.Packages)
	return s
}

func (m *machine) collect(ctx context.Context) (*wire.Snapshot, error) { return m.snapshot(), nil }

type fixture struct {
	col    *transporttest.Collector
	dir    *state.Dir
	sender *Sender
	id     string
	clk    *fakeClock
	m      *machine
}

func newFixture(t *testing.T, spoolOpt spool.Options) *fixture {
	t.Helper()
	col := transporttest.NewCollector(t, "s3cret", false)
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	opt := transport.Options{Mode: transport.ModeHTTPS, RetryMax: 0}
	res, err := enroll.Enroll(context.Background(), dir, enroll.Request{Collector: col.URL, Secret: "s3cret",
		Trust: enroll.Trust{Fingerprint: col.CA.Fingerprint()}, Identity: wire.Identity{Hostname: "test", Platform: "linux"}, Transport: opt})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := enroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	opt.BaseURL, opt.TLS = col.URL, creds.TLS
	client, err := transport.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sp, err := spool.Open(filepath.Join(dir.Path(), state.SpoolDir), spoolOpt)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	return &fixture{col: col, dir: dir, id: res.DeviceID, clk: clk, m: newMachine(clk, 40),
		sender: &Sender{Dir: dir, Spool: sp, Client: client, Now: clk.Now, FullEvery: 7 * 24 * time.Hour}}
}

// start runs a loop and returns a channel of published statuses and a stop
// function that cancels it and waits for Run to return.
func (f *fixture) start(t *testing.T) (<-chan state.Status, func() error) {
	t.Helper()
	statuses := make(chan state.Status, 1000)
	l := &Loop{Sender: f.sender, Collect: f.m.collect, ReportInterval: time.Hour, HeartbeatInterval: 5 * time.Minute,
		BackoffMin: time.Second, BackoffMax: 8 * time.Second, Clock: f.clk, Rand: rand.New(rand.NewPCG(1, 2)),
		DeviceID: f.id, Collector: f.col.URL, OnStatus: func(s state.Status) { statuses <- s }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return statuses, stop
}

// sent lists the agent requests the collector saw, as "kind seq" for
// reports and "heartbeat" for heartbeats, with non-200 statuses marked.
func (f *fixture) sent() []string {
	var out []string
	for _, r := range f.col.Requests() {
		s := ""
		switch r.Path {
		case ReportPath:
			s = fmt.Sprintf("%s %d", r.Kind, r.Seq)
			if r.Kind == "" { // refused before the body was read
				s = "report"
			}
		case HeartbeatPath:
			s = "heartbeat"
		default:
			continue
		}
		if r.Status != 200 {
			s += fmt.Sprintf(" (%d)", r.Status)
		}
		out = append(out, s)
	}
	return out
}

func last(ch <-chan state.Status) state.Status {
	var s state.Status
	for {
		select {
		case s = <-ch:
		default:
			return s
		}
	}
}

func (f *fixture) wantSent(t *testing.T, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, f.sent()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func (f *fixture) wantCollectorHas(t *testing.T) {
	t.Helper()
	got := f.col.Snapshot(f.id)
	if got == nil {
		t.Fatal("collector holds no snapshot")
	}
	want := f.m.snapshot()
	want.CollectedAt = got.CollectedAt
	if diff := cmp.Diff(want.Software, got.Software); diff != "" {
		t.Errorf("collector's software (-machine +collector):\n%s", diff)
	}
}

// TestLoopReportsHeartbeatsAndAdoptsSchedule: a full report at start, a
// heartbeat after the heartbeat interval, the collector's schedule
// adopted, then a delta with the machine's change.
func TestLoopReportsHeartbeatsAndAdoptsSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	statuses, stop := f.start(t)

	if d := <-f.clk.waits; d != 5*time.Minute {
		t.Errorf("first wait %v, want the heartbeat interval", d)
	}
	f.wantSent(t, "full 1")
	st := last(statuses)
	if st.LastReportStatus != wire.AckApplied || st.SpoolDepth != 0 || st.DeviceID != f.id || st.LastReportAt == nil || st.NextReportAt == nil || st.Stopped != "" {
		t.Errorf("status after the first report %+v", st)
	}

	f.col.SetSchedule(&wire.Schedule{ReportIntervalS: 600, HeartbeatIntervalS: 120})
	f.clk.Advance(5 * time.Minute)
	// The heartbeat's answer brought the next heartbeat to 2 minutes and
	// the next report to 10 minutes ±10 % after the first.
	if d := <-f.clk.waits; d != 2*time.Minute {
		t.Errorf("wait after adopting the schedule %v, want 2m", d)
	}
	f.wantSent(t, "full 1", "heartbeat")
	start := f.clk.Now().Add(-5 * time.Minute)
	if st := last(statuses); st.LastHeartbeatAt == nil || st.NextReportAt.Sub(start) > 11*time.Minute || st.NextReportAt.Sub(start) < 9*time.Minute {
		t.Errorf("status after the heartbeat %+v, want a heartbeat time and a report in 9-11 minutes", st)
	}

	f.m.set("pkg03", "2.0")
	f.m.set("newpkg", "0.1")
	for range 10 { // to minute 25: reports near 10 and 20, not yet 30
		f.clk.Advance(2 * time.Minute)
		<-f.clk.waits
	}
	got := f.sent()
	if len(got) < 3 || got[len(got)-1] == "" {
		t.Fatalf("requests %v", got)
	}
	var reports []string
	for _, s := range got {
		if s != "heartbeat" {
			reports = append(reports, s)
		}
	}
	if diff := cmp.Diff([]string{"full 1", "delta 2", "delta 3"}, reports); diff != "" {
		t.Errorf("reports over 25 minutes at a 10-minute interval (-want +got):\n%s", diff)
	}
	f.wantCollectorHas(t)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	saved, err := f.dir.LoadStatus()
	if err != nil || saved.UpdatedAt.IsZero() || saved.SpoolDepth != 0 {
		t.Errorf("status file %+v, %v", saved, err)
	}
}

// TestLoopOutage: with the collector down, reports pile up in the spool in
// order while the loop backs off (doubling, capped, never spinning); when
// it is back, the spool drains in order and the collector ends where the
// machine is.
func TestLoopOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	f.col.SetDown(true)
	statuses, _ := f.start(t)

	var waits []time.Duration
	for range 6 {
		d := <-f.clk.waits
		waits = append(waits, d)
		f.clk.Advance(d)
	}
	// Backoff 1s, 2s, 4s, 8s, 8s, ... each drawn from its upper half.
	caps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, d := range waits {
		if d < caps[i]/2 || d > caps[i] {
			t.Errorf("wait %d = %v, want within [%v, %v]", i+1, d, caps[i]/2, caps[i])
		}
	}
	st := last(statuses)
	if st.SpoolDepth != 1 || st.LastError == "" || st.LastErrorAt == nil || st.Stopped != "" {
		t.Errorf("status during the outage %+v, want one spooled report and the error", st)
	}

	// The loop's next backoff wait, announced after the sixth: advancing
	// before it is announced would not fire it, and leaving it unread
	// would put every read below one wait behind the loop.
	<-f.clk.waits

	// Three inventories during the outage, each with a change.
	for i := range 3 {
		f.m.set(fmt.Sprintf("added%d", i), "1")
		f.m.set(fmt.Sprintf("pkg%02d", i), "")
		f.clk.Advance(66 * time.Minute) // past the interval's jitter
		<-f.clk.waits
	}
	if st := last(statuses); st.SpoolDepth != 4 {
		t.Errorf("spool depth %d during the outage, want 4", st.SpoolDepth)
	}

	f.col.SetDown(false)
	f.clk.Advance(8 * time.Second)
	<-f.clk.waits
	var reports []string
	for _, s := range f.sent() {
		if s != "heartbeat" && s != "heartbeat (503)" && !containsStatus(s, 503) {
			reports = append(reports, s)
		}
	}
	if diff := cmp.Diff([]string{"full 1", "delta 2", "delta 3", "delta 4"}, reports); diff != "" {
		t.Errorf("reports once the collector is back (-want +got):\n%s", diff)
	}
	if st := last(statuses); st.SpoolDepth != 0 || st.LastError != "" || st.LastReportStatus != wire.AckApplied {
		t.Errorf("status after draining %+v", st)
	}
	f.wantCollectorHas(t)
}

func containsStatus(s string, code int) bool {
	return len(s) > 5 && s[len(s)-5:] == fmt.Sprintf("(%d)", code)
}

// TestLoopResync: a collector that lost the base answers resync to the
// next delta, and the same drain sends a full report of the same state.
func TestLoopResync(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	f.start(t)
	<-f.clk.waits
	f.col.ForgetBase(f.id)
	f.m.set("pkg01", "9")
	// Heartbeats answer resync too (the collector's hash is gone), so the
	// full report may come from either; count what reached the collector.
	f.clk.Advance(66 * time.Minute)
	<-f.clk.waits
	got := f.sent()
	if got[len(got)-1] != "full 4" && got[len(got)-1] != "full 3" {
		t.Errorf("requests %v, want a full report after the resync", got)
	}
	f.wantCollectorHas(t)
}

// TestLoopRevoked: a revoked certificate stops the sending at once, says
// so in the status, and the loop then only waits for its context.
func TestLoopRevoked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	f.col.Revoke(f.id)
	statuses, stop := f.start(t)
	var st state.Status
	for st = range statuses {
		if st.Stopped != "" {
			break
		}
	}
	if st.NextReportAt != nil || st.LastError == "" {
		t.Errorf("stopped status %+v, want no next report and the error", st)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	f.wantSent(t, "report (403)")
	if n := len(f.clk.waits); n != 0 {
		t.Errorf("the stopped loop set %d timers, want none", n)
	}
	if st, err := f.dir.LoadStatus(); err != nil || st.Stopped == "" || st.SpoolDepth != 1 {
		t.Errorf("status file %+v, %v; want stopped with the report kept", st, err)
	}
}

// TestLoopStopsDuringCollection: a stop signal during an inventory ends Run
// and spools nothing from the cut-short collection.
func TestLoopStopsDuringCollection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	started := make(chan struct{})
	l := &Loop{Sender: f.sender, Clock: f.clk, Collect: func(ctx context.Context) (*wire.Snapshot, error) {
		close(started)
		<-ctx.Done()
		return f.m.snapshot(), nil // partial, as probe.Run returns
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if items, err := f.sender.Spool.Pending(); err != nil || len(items) != 0 {
		t.Errorf("spool %v, %v; want nothing from a cancelled collection", items, err)
	}
	f.wantSent(t)
}

// TestSenderCoalesces: over the spool's count cap the pending deltas
// become one full report, and the collector still ends at the machine's
// state.
func TestSenderCoalesces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{MaxReports: 3})
	var kinds []string
	for i := range 5 {
		f.m.set(fmt.Sprintf("x%d", i), "1")
		q, err := f.sender.Enqueue(f.m.snapshot(), false)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, q.Kind)
	}
	if diff := cmp.Diff([]string{"full", "delta", "delta", "full", "delta"}, kinds); diff != "" {
		t.Errorf("kinds spooled (-want +got):\n%s", diff)
	}
	if _, err := f.sender.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantSent(t, "full 4", "delta 5")
	f.wantCollectorHas(t)
}

// TestSenderRecoversBase: after a crash between spooling a report and
// recording its snapshot, the next delta still builds on the newest
// spooled report; with no way to rebuild it the next report is full.
func TestSenderRecoversBase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	if _, err := f.sender.Enqueue(f.m.snapshot(), false); err != nil {
		t.Fatal(err)
	}
	first, err := f.dir.LoadSpooled()
	if err != nil || first == nil {
		t.Fatalf("spooled %v, %v", first, err)
	}
	f.m.set("a", "1")
	second, err := f.sender.Enqueue(f.m.snapshot(), false)
	if err != nil {
		t.Fatal(err)
	}
	// The crash: spooled.json still names the first report.
	if err := f.dir.SaveSpooled(*first); err != nil {
		t.Fatal(err)
	}
	f.m.set("b", "1")
	third, err := f.sender.Enqueue(f.m.snapshot(), false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.sender.Spool.Read(third.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != wire.ReportDelta || r.BaseHash != second.Hash {
		t.Errorf("report after the crash: %s on %s, want a delta on %s", r.Kind, r.BaseHash, second.Hash)
	}
	if err := f.dir.ForgetSpooled(); err != nil {
		t.Fatal(err)
	}
	f.m.set("c", "1")
	fourth, err := f.sender.Enqueue(f.m.snapshot(), false)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Kind != wire.ReportFull {
		t.Errorf("report without a recorded base after a delta: %s, want full", fourth.Kind)
	}
	if _, err := f.sender.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantSent(t, "full 1", "delta 2", "delta 3", "full 4")
	f.wantCollectorHas(t)
}

// TestSenderCorruptFile: a damaged spool file is moved aside and made up
// for with a full report.
func TestSenderCorruptFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, spool.Options{})
	for i := range 3 {
		f.m.set(fmt.Sprintf("y%d", i), "1")
		if _, err := f.sender.Enqueue(f.m.snapshot(), false); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(f.sender.Spool.Dir(), fmt.Sprintf("%020d.report", 2))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sender.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantSent(t, "full 1", "full 4")
	f.wantCollectorHas(t)
	if st, err := f.sender.Spool.Stats(); err != nil || st.Corrupt != 1 || st.Depth != 0 {
		t.Errorf("spool stats %+v, %v; want one corrupt, none pending", st, err)
	}
	if _, err := f.sender.Spool.Read(2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt report still readable: %v", err)
	}
}
