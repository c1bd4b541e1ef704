package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/collector/webhook/webhooktest"
)

// outboxUnderTest is a webhook.Store plus a way to queue one event the way
// its owner does.
type outboxUnderTest struct {
	webhook.Store
	enqueue func(t *testing.T, ev webhook.Event) []string
}

func testEndpoints() []webhook.Endpoint {
	return []webhook.Endpoint{
		{ID: "a", URL: "https://a.example/hook", Secret: "sa", Events: []string{"*"}, Enabled: true},
		{ID: "b", URL: "https://b.example/hook", Secret: "sb", Events: []string{"device.*"}, Enabled: true},
	}
}

// stores returns the reference in-memory store and the registry's SQLite
// outbox, configured with the same endpoints.
func stores(t *testing.T) map[string]outboxUnderTest {
	mem := webhooktest.New()
	for _, ep := range testEndpoints() {
		mem.PutEndpoint(ep)
	}
	e := newEnv(t)
	e.configure(t, failAll, testEndpoints()...)
	ob := e.reg.Outbox(0)
	return map[string]outboxUnderTest{
		"webhooktest": {mem, func(t *testing.T, ev webhook.Event) []string { return mem.Enqueue(ev, ev.At) }},
		"sqlite": {ob, func(t *testing.T, ev webhook.Event) []string {
			if _, err := e.reg.RecordEvents(context.Background(), []webhook.Event{ev}); err != nil {
				t.Fatal(err)
			}
			// The ids are the outbox's own: read them back through Due.
			var ids []string
			due, err := ob.Due(context.Background(), ev.At, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range due {
				if p.Event.ID == ev.ID {
					ids = append(ids, p.Delivery.ID)
				}
			}
			return ids
		}},
	}
}

// TestOutboxContract runs the same script against the reference store and
// the SQLite outbox: fan-out by filter, due order, and the three outcomes.
func TestOutboxContract(t *testing.T) {
	t.Parallel()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dev := webhook.Event{ID: uuid.NewString(), Kind: webhook.KindDeviceUnregistered, At: t0, DeviceID: "d1", Subject: "unregistered", Data: []byte(`{"flag":"unregistered"}`)}
			comp := webhook.Event{ID: uuid.NewString(), Kind: webhook.KindComplianceChanged, At: t0.Add(time.Second), DeviceID: "d1"}
			if ids := st.enqueue(t, dev); len(ids) != 2 {
				t.Fatalf("device event: %d deliveries, want 2 (a and b)", len(ids))
			}
			if ids := st.enqueue(t, comp); len(ids) != 1 {
				t.Fatalf("compliance event: %d deliveries, want 1 (a)", len(ids))
			}
			due, err := st.Due(ctx, t0, 10)
			if err != nil || len(due) != 2 {
				t.Fatalf("due at t0: %d, %v; want the device event's 2", len(due), err)
			}
			for _, p := range due {
				if p.Event.ID != dev.ID || p.Event.Subject != "unregistered" || string(p.Event.Data) != `{"flag":"unregistered"}` ||
					p.Endpoint.Secret == "" || p.Delivery.EventID != dev.ID || p.Delivery.Attempt != 0 {
					t.Errorf("due %+v", p)
				}
			}
			due, _ = st.Due(ctx, t0.Add(time.Second), 10)
			if len(due) != 3 {
				t.Fatalf("due at t0+1s: %d, want 3", len(due))
			}
			if limited, _ := st.Due(ctx, t0.Add(time.Second), 1); len(limited) != 1 || limited[0].Event.ID != dev.ID {
				t.Errorf("limit 1: %+v, want the oldest", limited)
			}
			ok, fail, gone := due[0].Delivery.ID, due[1].Delivery.ID, due[2].Delivery.ID
			if err := st.Delivered(ctx, ok, t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := st.Failed(ctx, fail, 1, t0.Add(time.Hour), "HTTP 500"); err != nil {
				t.Fatal(err)
			}
			if err := st.GiveUp(ctx, gone, "HTTP 410 Gone"); err != nil {
				t.Fatal(err)
			}
			if due, _ := st.Due(ctx, t0.Add(time.Minute), 10); len(due) != 0 {
				t.Errorf("due after outcomes: %+v, want none before the retry time", due)
			}
			due, _ = st.Due(ctx, t0.Add(time.Hour), 10)
			if len(due) != 1 || due[0].Delivery.ID != fail || due[0].Delivery.Attempt != 1 || due[0].Delivery.LastError != "HTTP 500" {
				t.Errorf("due at the retry time: %+v, want the failed one with attempt 1", due)
			}
			for _, id := range []string{ok, gone} {
				if err := st.Delivered(ctx, id, t0); err == nil {
					t.Errorf("recording an outcome on finished delivery %s succeeded", id)
				}
			}
			if err := st.Failed(ctx, "no-such-delivery", 1, t0, "x"); err == nil {
				t.Error("recording an outcome on an unknown delivery succeeded")
			}
		})
	}
}

// TestOutboxClaims: two processes sharing a database never get the same
// delivery at once, and a claim whose holder died lapses.
func TestOutboxClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.configure(t, failAll, testEndpoints()...)
	ctx := context.Background()
	if _, err := e.reg.RecordEvents(ctx, []webhook.Event{{Kind: webhook.KindComplianceChanged, At: t0}}); err != nil {
		t.Fatal(err)
	}
	one, two := e.reg.Outbox(time.Minute), e.reg.Outbox(time.Minute)
	if due, err := one.Due(ctx, t0, 10); err != nil || len(due) != 1 {
		t.Fatalf("first process: %d, %v; want the delivery", len(due), err)
	}
	if due, _ := two.Due(ctx, t0.Add(30*time.Second), 10); len(due) != 0 {
		t.Errorf("second process while claimed: %+v, want none", due)
	}
	if due, _ := one.Due(ctx, t0.Add(30*time.Second), 10); len(due) != 1 {
		t.Errorf("first process again: %d, want its own claim back", len(due))
	}
	due, _ := two.Due(ctx, t0.Add(2*time.Minute), 10)
	if len(due) != 1 {
		t.Fatalf("second process after the lease: %d, want the lapsed delivery", len(due))
	}
	if err := two.Delivered(ctx, due[0].Delivery.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxWithWorker: the real Worker delivers what a report queued,
// signed, and the outbox records it delivered.
func TestOutboxWithWorker(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := webhook.Verify("sa", r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, t0, 0); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(webhook.HeaderEvent))
		mu.Unlock()
	}))
	defer srv.Close()
	e := newEnv(t)
	eps := []webhook.Endpoint{{ID: "a", URL: srv.URL, Secret: "sa", Events: []string{"compliance.*"}, Enabled: true}}
	e.configure(t, failAll, eps...)
	e.reported(t, snapshotOf(t, debian), t0)

	ob := e.reg.Outbox(0)
	w := webhook.NewWorker(ob, srv.Client(), nil, webhook.Options{Now: func() time.Time { return t0 }})
	n, err := w.RunOnce(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("RunOnce: %d attempts, %v; want 1", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != webhook.KindComplianceChanged {
		t.Errorf("receiver got %v, want one verified compliance.changed", got)
	}
	if due, _ := ob.Due(context.Background(), t0.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("still due after delivery: %+v", due)
	}
}

// TestOutboxClaimsAcrossInstances has two registries on one store (two
// collectors sharing a database), each with several outboxes polling at
// once, race for many due deliveries and record each one they get as
// delivered. Every delivery is handed out exactly once: no outbox gets one
// another outbox claimed, none is recorded twice, and once delivered none
// is due again anywhere, even after every claim has lapsed.
func TestOutboxClaimsAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := registry.NewTestStore(t)
	a, b := &env{reg: registry.OpenTestStore(t, store)}, &env{reg: registry.OpenTestStore(t, store)}
	for _, e := range []*env{a, b} {
		e.configure(t, failAll, testEndpoints()...)
	}
	const events = 150 // two deliveries each: endpoints a and b take device.*
	evs := make([]webhook.Event, events)
	for i := range evs {
		evs[i] = webhook.Event{Kind: webhook.KindDeviceUnregistered, At: t0, DeviceID: fmt.Sprintf("d%d", i)}
	}
	n, err := a.reg.RecordEvents(ctx, evs)
	if err != nil || n != 2*events {
		t.Fatalf("record events: %d deliveries, %v; want %d", n, err, 2*events)
	}

	now := t0.Add(time.Second)
	var mu sync.Mutex
	claimedBy := map[string]int{} // delivery id → outbox that got it
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i, reg := range []*registry.Registry{a.reg, b.reg, a.reg, b.reg, a.reg, b.reg} {
		ob := reg.Outbox(time.Minute)
		wg.Go(func() {
			for {
				due, err := ob.Due(ctx, now, 7)
				if err != nil {
					errs <- fmt.Errorf("outbox %d: %w", i, err)
					return
				}
				if len(due) == 0 {
					return
				}
				for _, p := range due {
					mu.Lock()
					prev, seen := claimedBy[p.Delivery.ID]
					claimedBy[p.Delivery.ID] = i
					mu.Unlock()
					if seen {
						errs <- fmt.Errorf("delivery %s handed to outbox %d, already claimed by %d", p.Delivery.ID, i, prev)
						return
					}
					if err := ob.Delivered(ctx, p.Delivery.ID, now); err != nil {
						errs <- fmt.Errorf("outbox %d: %w", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimedBy) != 2*events {
		t.Errorf("got %d deliveries claimed, want %d", len(claimedBy), 2*events)
	}
	for name, reg := range map[string]*registry.Registry{"a": a.reg, "b": b.reg} {
		if due, err := reg.Outbox(time.Minute).Due(ctx, now.Add(time.Hour), 10); err != nil || len(due) != 0 {
			t.Errorf("%s: due after every delivery was recorded: %d, %v; want none", name, len(due), err)
		}
	}
}

// TestTwoWorkersDeliverOnce: two collectors' webhook workers on one store,
// running at once against one receiver on loopback, send each event to it
// exactly once.
func TestTwoWorkersDeliverOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := t0.Add(time.Second)
	var mu sync.Mutex
	got := map[string]int{} // event id → requests the receiver accepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := webhook.Verify("sa", r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp), body, now, 0); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[ev.ID]++
		mu.Unlock()
	}))
	defer srv.Close()

	store := registry.NewTestStore(t)
	eps := []webhook.Endpoint{{ID: "a", URL: srv.URL, Secret: "sa", Events: []string{"*"}, Enabled: true}}
	var regs []*registry.Registry
	for range 2 {
		e := &env{reg: registry.OpenTestStore(t, store)}
		e.configure(t, failAll, eps...)
		regs = append(regs, e.reg)
	}
	const events = 60
	evs := make([]webhook.Event, events)
	for i := range evs {
		evs[i] = webhook.Event{ID: uuid.NewString(), Kind: webhook.KindComplianceChanged, At: t0, DeviceID: fmt.Sprintf("d%d", i)}
	}
	if _, err := regs[0].RecordEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	attempts := make([]int, len(regs))
	for i, reg := range regs {
		w := webhook.NewWorker(reg.Outbox(0), srv.Client(), nil, webhook.Options{Concurrency: 4, Now: func() time.Time { return now }})
		wg.Go(func() {
			n, err := w.RunOnce(ctx)
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
			attempts[i] = n
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs {
		if n := got[ev.ID]; n != 1 {
			t.Errorf("event %s arrived %d times, want once", ev.ID, n)
		}
	}
	if attempts[0]+attempts[1] != events {
		t.Errorf("workers made %v attempts, want %d in all", attempts, events)
	}
	t.Logf("attempts per worker: %v", attempts)
}

// TestOutboxLapsedClaimOutcomeDropped: a process that stalled past its
// claim's lease (the clock is the now each Due is given, no sleeping)
// and then records its attempt's outcome must not touch the delivery that
// another process has claimed since: its outcome is dropped and logged,
// the new holder keeps its claim (a third process is not handed the
// delivery) and records its own outcome.
func TestOutboxLapsedClaimOutcomeDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs bytes.Buffer
	var mu sync.Mutex
	reg, err := registry.OpenAndMigrate(ctx, registry.NewTestStore(t), slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	e := &env{reg: reg}
	e.configure(t, failAll, testEndpoints()...)
	if _, err := reg.RecordEvents(ctx, []webhook.Event{{Kind: webhook.KindComplianceChanged, At: t0}}); err != nil {
		t.Fatal(err)
	}
	stalled, taker, third := reg.Outbox(time.Minute), reg.Outbox(time.Minute), reg.Outbox(time.Minute)
	due, err := stalled.Due(ctx, t0, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("first claim: %d, %v; want the delivery", len(due), err)
	}
	id := due[0].Delivery.ID
	// The stalled process's lease ends at t0+1m; the taker claims after it.
	if due, err := taker.Due(ctx, t0.Add(2*time.Minute), 10); err != nil || len(due) != 1 || due[0].Delivery.ID != id {
		t.Fatalf("claim after the lease: %+v, %v; want %s", due, err, id)
	}
	for name, record := range map[string]func() error{
		"delivered": func() error { return stalled.Delivered(ctx, id, t0.Add(2*time.Minute)) },
		"failed":    func() error { return stalled.Failed(ctx, id, 1, t0.Add(time.Hour), "stalled: HTTP 500") },
		"given up":  func() error { return stalled.GiveUp(ctx, id, "stalled: HTTP 410 Gone") },
	} {
		if err := record(); err != nil {
			t.Errorf("stale %s outcome: %v, want it dropped without an error", name, err)
		}
	}
	mu.Lock()
	if n := strings.Count(logs.String(), "webhook outcome dropped"); n != 3 {
		t.Errorf("logged %d dropped outcomes, want 3:\n%s", n, logs.String())
	}
	mu.Unlock()
	// The taker still holds the claim: nobody else is handed the delivery
	// before the taker's lease ends (t0+3m), and it is still unattempted.
	if due, err := third.Due(ctx, t0.Add(2*time.Minute+30*time.Second), 10); err != nil || len(due) != 0 {
		t.Errorf("third process during the taker's lease: %+v, %v; want none", due, err)
	}
	due, err = taker.Due(ctx, t0.Add(2*time.Minute+30*time.Second), 10)
	if err != nil || len(due) != 1 || due[0].Delivery.Attempt != 0 || due[0].Delivery.LastError != "" {
		t.Fatalf("taker's claim: %+v, %v; want the delivery untouched by the stale outcomes", due, err)
	}
	if err := taker.Failed(ctx, id, 1, t0.Add(time.Hour), "HTTP 500"); err != nil {
		t.Fatalf("the holder's outcome: %v", err)
	}
	// The stalled process's late outcome after the holder recorded its own
	// (claim cleared, nobody holds it) is dropped too.
	if err := stalled.Delivered(ctx, id, t0.Add(3*time.Minute)); err != nil {
		t.Errorf("stale outcome after the holder's: %v", err)
	}
	due, err = third.Due(ctx, t0.Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].Delivery.Attempt != 1 || due[0].Delivery.LastError != "HTTP 500" {
		t.Errorf("due at the retry time: %+v, %v; want the holder's failure, attempt 1", due, err)
	}
}

// lockedWriter serialises writes to a buffer a test reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
