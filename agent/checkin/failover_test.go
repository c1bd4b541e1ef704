package checkin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
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

// pair is an agent enrolled with two instances of one collector (one CA,
// one store), A preferred.
type pair struct {
	*fixture
	a, b   *transporttest.Instance
	client *transport.Client
}

func newPair(t *testing.T) *pair {
	t.Helper()
	col := transporttest.NewCollector(t, "s3cret", false)
	a, b := col.NewInstance(t), col.NewInstance(t)
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := enroll.Enroll(context.Background(), dir, enroll.Request{Collectors: []string{a.URL, b.URL}, Secret: "s3cret",
		Trust: enroll.Trust{Fingerprint: col.CA.Fingerprint()}, Identity: wire.Identity{Hostname: "test", Platform: "linux"},
		Transport: transport.Options{Mode: transport.ModeHTTPS}})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir.Path(), state.SpoolDir), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	p := &pair{fixture: &fixture{col: col, dir: dir, id: res.DeviceID, clk: clk, m: newMachine(clk, 40),
		sender: &Sender{Dir: dir, Spool: sp, Now: clk.Now, FullEvery: 7 * 24 * time.Hour}}, a: a, b: b}
	p.restart(t)
	return p
}

// restart gives the agent a new client, as a new process gets: it knows
// only what the state directory remembers.
func (p *pair) restart(t *testing.T) {
	t.Helper()
	creds, err := enroll.Load(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	client, err := transport.New(transport.Options{BaseURLs: creds.Device.URLs(), TLS: creds.TLS, Mode: transport.ModeHTTPS,
		RetryMax: 1, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond,
		FailoverTimeout: 5 * time.Second, FailbackInterval: time.Hour, Now: p.clk.Now, Collectors: p.dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	p.client, p.sender.Client = client, client
}

// applied lists the reports each instance applied or acknowledged, as
// "A full 1".
func (p *pair) applied() []string {
	var out []string
	for _, r := range p.col.Requests() {
		if r.Path != ReportPath || r.Status != http.StatusOK {
			continue
		}
		name := map[string]string{p.a.Host: "A", p.b.Host: "B"}[r.Host]
		out = append(out, fmt.Sprintf("%s %s %d", name, r.Kind, r.Seq))
	}
	return out
}

func (p *pair) wantApplied(t *testing.T, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, p.applied()); diff != "" {
		t.Errorf("reports taken (-want +got):\n%s", diff)
	}
}

// TestDrainFailsOver: reports spooled while A took the first one go to B
// once A stops answering, in order, each exactly once, nothing lost.
func TestDrainFailsOver(t *testing.T) {
	t.Parallel()
	for name, breakA := range map[string]func(*transporttest.Instance){
		"stopped": (*transporttest.Instance).Stop,
		"503":     func(a *transporttest.Instance) { a.Fail(http.StatusServiceUnavailable) },
		"500":     func(a *transporttest.Instance) { a.Fail(http.StatusInternalServerError) },
		"421":     func(a *transporttest.Instance) { a.Fail(http.StatusMisdirectedRequest) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			ctx := context.Background()
			if _, err := p.sender.SendSnapshot(ctx, p.m.snapshot(), false); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				p.m.set(fmt.Sprintf("added%d", i), "1")
				if _, err := p.sender.Enqueue(p.m.snapshot(), false); err != nil {
					t.Fatal(err)
				}
			}
			breakA(p.a)
			sent, err := p.sender.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sent == nil || sent.Seq != 4 || sent.Ack.Status != wire.AckApplied {
				t.Errorf("last sent %+v, want seq 4 applied", sent)
			}
			p.wantApplied(t, "A full 1", "B delta 2", "B delta 3", "B delta 4")
			if st, _ := p.sender.Spool.Stats(); st.Depth != 0 {
				t.Errorf("spool depth %d, want 0", st.Depth)
			}
			p.wantCollectorHas(t)
			if got, _ := p.dir.LastCollector(); p.client.Current() != p.b.URL || got.Collector != p.b.URL {
				t.Errorf("in use %s, remembered %s; want %s", p.client.Current(), got.Collector, p.b.URL)
			}
		})
	}
}

// TestNoFailoverOn4xx: a 400 from A is the deployment's answer: it is
// surfaced, and B is not asked.
func TestNoFailoverOn4xx(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.a.Fail(http.StatusBadRequest)
	_, _, err := p.sender.Heartbeat(context.Background(), "test")
	var he *transport.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("err = %v, want A's 400", err)
	}
	for _, r := range p.col.Requests() {
		if r.Host == p.b.Host {
			t.Errorf("B was asked: %+v", r)
		}
	}
	if p.client.Current() != p.a.URL {
		t.Errorf("in use %s, want %s", p.client.Current(), p.a.URL)
	}
}

// TestLoopFailsOverAndBack: the loop reports to A; through an outage of
// both the reports pile up; B comes back first and takes them all; a
// restarted agent stays with B; once A is back and the failback interval
// passed, reports go to A again. The status names the collector in use.
func TestLoopFailsOverAndBack(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	statuses := make(chan state.Status, 1000)
	start := func() func() {
		l := &Loop{Sender: p.sender, Collect: p.m.collect, ReportInterval: time.Hour, HeartbeatInterval: 5 * time.Minute,
			BackoffMin: time.Second, BackoffMax: 8 * time.Second, Clock: p.clk, Rand: rand.New(rand.NewPCG(1, 2)),
			DeviceID: p.id, Collector: p.client.Current(), Collectors: p.client.Collectors(),
			CollectorInUse: p.client.Current, OnStatus: func(s state.Status) { statuses <- s }}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
		}
		t.Cleanup(stop)
		return stop
	}
	wantInUse := func(want string) {
		t.Helper()
		st := last(statuses)
		if st.Collector != want || !slices.Equal(st.Collectors, []string{p.a.URL, p.b.URL}) {
			t.Errorf("status names %s of %v, want %s of [%s %s]", st.Collector, st.Collectors, want, p.a.URL, p.b.URL)
		}
	}

	stop := start()
	<-p.clk.waits
	p.wantApplied(t, "A full 1")
	wantInUse(p.a.URL)

	p.a.Stop()
	p.b.Stop()
	for i := range 3 {
		p.m.set(fmt.Sprintf("added%d", i), "1")
		p.clk.Advance(66 * time.Minute) // past the interval's jitter
		<-p.clk.waits
	}
	if st := last(statuses); st.SpoolDepth != 3 || st.LastError == "" {
		t.Errorf("status during the outage %+v, want three spooled reports and the error", st)
	}
	p.b.Start(t)
	p.clk.Advance(8 * time.Second) // the longest backoff
	<-p.clk.waits
	p.wantApplied(t, "A full 1", "B delta 2", "B delta 3", "B delta 4")
	p.wantCollectorHas(t)
	wantInUse(p.b.URL)
	if st := last(statuses); st.SpoolDepth != 0 || st.LastError != "" {
		t.Errorf("status after failing over %+v", st)
	}

	// A restart starts with B even with A back.
	stop()
	p.a.Start(t)
	p.restart(t)
	p.m.set("after-restart", "1")
	start()
	<-p.clk.waits
	p.wantApplied(t, "A full 1", "B delta 2", "B delta 3", "B delta 4", "B delta 5")
	wantInUse(p.b.URL)

	// The next report, an hour after B took over, tries A first.
	p.m.set("after-failback", "1")
	p.clk.Advance(66 * time.Minute)
	<-p.clk.waits
	got := p.applied()
	if len(got) < 6 || got[len(got)-1] != "A delta 6" {
		t.Errorf("reports taken %v, want the last one, delta 6, by A", got)
	}
	p.wantCollectorHas(t)
	wantInUse(p.a.URL)
	if c, _ := p.dir.LastCollector(); c.Collector != p.a.URL {
		t.Errorf("remembered %s, want %s", c.Collector, p.a.URL)
	}
}
