package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// collectorMemory is an in-memory transport.CollectorMemory.
type collectorMemory struct {
	mu     sync.Mutex
	choice state.CollectorChoice
	saves  int
}

func (m *collectorMemory) LastCollector() (state.CollectorChoice, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.choice, nil
}

func (m *collectorMemory) RememberCollector(c state.CollectorChoice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.choice = c
	m.saves++
	return nil
}

// statusServer answers every request with its current status (200 with
// "{}" by default) and counts the requests.
type statusServer struct {
	URL    string
	calls  atomic.Int32
	status atomic.Int32
}

func newStatusServer(t *testing.T, ca *transporttest.CA) *statusServer {
	s := &statusServer{}
	s.status.Store(200)
	s.URL = transporttest.Servers(t, ca.ServerTLS(t), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		st := int(s.status.Load())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		if st == 200 {
			w.Write([]byte(`{}`))
			return
		}
		fmt.Fprintf(w, `{"error":{"code":"e%d","message":"no"}}`, st)
	}), false)
	return s
}

// closedURL is an https URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

func failoverClient(t *testing.T, ca *transporttest.CA, mem *collectorMemory, now func() time.Time, urls ...string) *transport.Client {
	t.Helper()
	cfg, err := transport.CATLS(ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	opt := transport.Options{BaseURLs: urls, TLS: cfg, Mode: transport.ModeHTTPS,
		RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
		FailoverTimeout: 2 * time.Second, FailbackInterval: time.Hour, Now: now}
	if mem != nil {
		opt.Collectors = mem
	}
	c, err := transport.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFailoverStatuses: which answers of the first collector send the
// request on to the second.
func TestFailoverStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status       int
		wantFailover bool
	}{
		{500, true},
		{502, true},
		{503, true},
		{421, true},
		{400, false},
		{401, false},
		{403, false},
		{404, false},
		{409, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			ca := transporttest.NewCA(t, "deployment CA")
			a, b := newStatusServer(t, ca), newStatusServer(t, ca)
			a.status.Store(int32(tt.status))
			mem := &collectorMemory{}
			c := failoverClient(t, ca, mem, nil, a.URL, b.URL)
			var out struct{}
			_, err := c.PostJSON(context.Background(), "/api/v1/agent/report", struct{}{}, false, &out)
			if tt.wantFailover {
				if err != nil {
					t.Fatalf("err = %v, want the second collector's answer", err)
				}
				if b.calls.Load() != 1 || c.Current() != b.URL || mem.choice.Collector != b.URL {
					t.Errorf("second collector called %d times, current %s, remembered %q; want 1, %s, %s",
						b.calls.Load(), c.Current(), mem.choice.Collector, b.URL, b.URL)
				}
				// The first collector's own retries came first, capped at one.
				if got := a.calls.Load(); tt.status >= 500 && got != 2 {
					t.Errorf("first collector called %d times, want 2 (one retry before failing over)", got)
				}
				return
			}
			var he *transport.HTTPError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("err = %v, want the first collector's %d", err, tt.status)
			}
			if b.calls.Load() != 0 || c.Current() != a.URL || mem.saves != 0 {
				t.Errorf("second collector called %d times, current %s, %d saves; want 0, %s, 0", b.calls.Load(), c.Current(), mem.saves, a.URL)
			}
		})
	}
}

// TestFailoverNetworkError: a collector whose port is closed, or one that
// never answers, gives way to the next one within a bounded time.
func TestFailoverNetworkError(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "deployment CA")
	b := newStatusServer(t, ca)
	hung := transporttest.Servers(t, ca.ServerTLS(t), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request, as a collector does, then never answer. Over
		// HTTP/1.1 the server learns that the client left only once the
		// body is read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}), false)
	for name, first := range map[string]string{"closed": closedURL(t), "hung": hung} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := transport.CATLS(ca.PEM)
			c, err := transport.New(transport.Options{BaseURLs: []string{first, b.URL}, TLS: cfg, Mode: transport.ModeHTTPS,
				RetryMax: 4, RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: time.Second, FailoverTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			began := time.Now()
			resp, err := c.Do(context.Background(), transport.Request{Method: "POST", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Collector != b.URL {
				t.Errorf("got %d from %s, want 200 from %s", resp.StatusCode, resp.Collector, b.URL)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("failing over took %v, want it bounded by the failover timeout", took)
			}
		})
	}
}

// TestFailoverAllDown: when every collector fails, the error names each.
func TestFailoverAllDown(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "deployment CA")
	a, b := closedURL(t), closedURL(t)
	mem := &collectorMemory{}
	c := failoverClient(t, ca, mem, nil, a, b)
	_, err := c.Do(context.Background(), transport.Request{Method: "POST", Path: "/"})
	if err == nil {
		t.Fatal("no error with every collector down")
	}
	if !transport.Failover(err) {
		t.Errorf("Failover(%v) = false, want true", err)
	}
	if c.Current() != a || mem.saves != 0 {
		t.Errorf("current %s after %d saves, want %s untouched", c.Current(), mem.saves, a)
	}
}

// TestFailoverRemembersAndFailsBack: the collector in use survives a
// restart (a new Client over the same memory); after the failback interval
// the first collector is tried again, and kept when it answers.
func TestFailoverRemembersAndFailsBack(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "deployment CA")
	a, b := newStatusServer(t, ca), newStatusServer(t, ca)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mem := &collectorMemory{}
	do := func(c *transport.Client) string {
		t.Helper()
		resp, err := c.Do(context.Background(), transport.Request{Method: "POST", Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Collector
	}

	a.status.Store(503)
	c := failoverClient(t, ca, mem, clock, a.URL, b.URL)
	if got := do(c); got != b.URL {
		t.Fatalf("answered by %s, want %s", got, b.URL)
	}
	a.status.Store(200)
	a.calls.Store(0)

	// A restart starts with the remembered collector.
	c = failoverClient(t, ca, mem, clock, a.URL, b.URL)
	if c.Current() != b.URL {
		t.Fatalf("restarted client starts with %s, want %s", c.Current(), b.URL)
	}
	now = now.Add(59 * time.Minute)
	if got := do(c); got != b.URL || a.calls.Load() != 0 {
		t.Fatalf("within the failback interval: answered by %s, first collector called %d times; want %s, 0", got, a.calls.Load(), b.URL)
	}

	// The first collector still failing at the failback: back to B, and
	// the next try an interval later.
	a.status.Store(503)
	now = now.Add(time.Minute)
	if got := do(c); got != b.URL || a.calls.Load() != 2 {
		t.Fatalf("failback to a failing collector: answered by %s, first collector called %d times; want %s, 2", got, a.calls.Load(), b.URL)
	}
	now = now.Add(30 * time.Minute)
	if got := do(c); got != b.URL || a.calls.Load() != 2 {
		t.Fatalf("after a failed failback: answered by %s, first collector called %d times; want %s, 2", got, a.calls.Load(), b.URL)
	}

	// Back: the failback sticks, in memory and on disk.
	a.status.Store(200)
	now = now.Add(30 * time.Minute)
	if got := do(c); got != a.URL {
		t.Fatalf("after the first collector came back: answered by %s, want %s", got, a.URL)
	}
	if c.Current() != a.URL || mem.choice.Collector != a.URL {
		t.Errorf("current %s, remembered %s; want %s", c.Current(), mem.choice.Collector, a.URL)
	}
	bCalls := b.calls.Load()
	if got := do(c); got != a.URL || b.calls.Load() != bCalls {
		t.Errorf("after failing back: answered by %s, second collector called again: %v", got, b.calls.Load() != bCalls)
	}
}

// TestFailoverForgetsUnknownCollector: a remembered collector no longer
// in the list is ignored.
func TestFailoverForgetsUnknownCollector(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "deployment CA")
	mem := &collectorMemory{choice: state.CollectorChoice{Collector: "https://gone.example:8443", Since: time.Now()}}
	c := failoverClient(t, ca, mem, nil, "https://a.example:8443", "https://b.example:8443/")
	if c.Current() != "https://a.example:8443" {
		t.Errorf("current %s, want the first collector", c.Current())
	}
	if got := c.Collectors(); len(got) != 2 || got[1] != "https://b.example:8443" {
		t.Errorf("collectors %v, want both without a trailing slash", got)
	}
}
