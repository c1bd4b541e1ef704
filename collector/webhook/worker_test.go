package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rosterhq/roster/collector/webhook"
	"github.com/rosterhq/roster/collector/webhook/webhooktest"
)

const secret = "whsec-test"

// clock is the injected time: tests move it, nobody sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// request is what the receiver saw.
type request struct {
	Delivery, Event, UserAgent, ContentType string
	Body                                    []byte
	Status                                  int
}

// receiver is a webhook endpoint on loopback that checks every signature
// with Verify against the test clock and answers from a script of status
// codes (then 200 when the script runs out).
type receiver struct {
	t      *testing.T
	clock  *clock
	srv    *httptest.Server
	mu     sync.Mutex
	script []int
	got    []request
	// block, when set, makes the next request wait until its context ends.
	block   bool
	blocked chan struct{} // receives when a request starts blocking
}

func newReceiver(t *testing.T, c *clock, script ...int) *receiver {
	r := &receiver{t: t, clock: c, script: script, blocked: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: read body: %v", err)
		return
	}
	if err := webhook.Verify(secret, req.Header.Get(webhook.HeaderSignature), req.Header.Get(webhook.HeaderTimestamp), body, r.clock.Now(), time.Minute); err != nil {
		r.t.Errorf("receiver: verify: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	if r.block {
		r.block = false
		r.mu.Unlock()
		r.blocked <- struct{}{}
		<-req.Context().Done()
		return
	}
	status := http.StatusOK
	if len(r.script) > 0 {
		status, r.script = r.script[0], r.script[1:]
	}
	r.got = append(r.got, request{
		Delivery:    req.Header.Get(webhook.HeaderDelivery),
		Event:       req.Header.Get(webhook.HeaderEvent),
		UserAgent:   req.Header.Get("User-Agent"),
		ContentType: req.Header.Get("Content-Type"),
		Body:        body,
		Status:      status,
	})
	r.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d\n", status)
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func (r *receiver) accepted() []request {
	var ok []request
	for _, q := range r.requests() {
		if q.Status/100 == 2 {
			ok = append(ok, q)
		}
	}
	return ok
}

// setup returns a store with one endpoint pointing at url and one queued
// event, and the delivery id.
func setup(t *testing.T, c *clock, url string) (*webhooktest.Store, string) {
	t.Helper()
	st := webhooktest.New()
	st.PutEndpoint(webhook.Endpoint{ID: "ep1", URL: url, Secret: secret, Events: []string{"compliance.*"}, Enabled: true})
	ids := st.Enqueue(webhook.Event{
		ID: "6f1c0a9e-0000-4000-8000-000000000001", Kind: webhook.KindComplianceChanged, At: c.Now(),
		DeviceID: "dev-1", AssetTag: "ACME-0001", Subject: "CFG-ENC-01 now failing",
		Data: json.RawMessage(`{"policy":"CFG-ENC-01","from":"pass","to":"fail"}`),
	}, c.Now())
	if len(ids) != 1 {
		t.Fatalf("enqueued %d deliveries, want 1", len(ids))
	}
	return st, ids[0]
}

func delivery(t *testing.T, st *webhooktest.Store, id string) webhooktest.Delivery {
	t.Helper()
	d, ok := st.Delivery(id)
	if !ok {
		t.Fatalf("delivery %s not found", id)
	}
	return d
}

func runOnce(t *testing.T, w *webhook.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func TestRetryUntilDeliveredOnce(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c, 503, 503, 500, 429)
	st, id := setup(t, c, rcv.srv.URL+"/hook")
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now})

	// Four failures, each scheduled by the default backoff from the time
	// of the failure: 10s, 20s, 40s, 80s (minus at most 10% jitter).
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second} {
		failedAt := c.Now()
		if n := runOnce(t, w); n != 1 {
			t.Fatalf("round %d: %d attempts, want 1", i, n)
		}
		d := delivery(t, st, id)
		if d.State != webhooktest.Pending || d.Attempt != i+1 {
			t.Fatalf("round %d: state %s attempt %d, want pending attempt %d", i, d.State, d.Attempt, i+1)
		}
		wait := d.NextAttemptAt.Sub(failedAt)
		if wait > want || wait < want-want/10 {
			t.Fatalf("round %d: next attempt after %v, want within (%v, %v]", i, wait, want-want/10, want)
		}
		// Not due a moment before: no attempt.
		c.Set(d.NextAttemptAt.Add(-time.Second))
		if n := runOnce(t, w); n != 0 {
			t.Fatalf("round %d: %d attempts before the retry time, want 0", i, n)
		}
		c.Set(d.NextAttemptAt)
	}
	if n := runOnce(t, w); n != 1 {
		t.Fatalf("final round: %d attempts, want 1", n)
	}
	d := delivery(t, st, id)
	if d.State != webhooktest.Delivered || d.Attempt != 5 || !d.DeliveredAt.Equal(c.Now()) {
		t.Fatalf("got state %s attempt %d delivered at %v, want delivered attempt 5 at %v", d.State, d.Attempt, d.DeliveredAt, c.Now())
	}
	wantOutcomes := []string{"failed: HTTP 503: status 503", "failed: HTTP 503: status 503", "failed: HTTP 500: status 500", "failed: HTTP 429: status 429", "delivered"}
	if diff := cmp.Diff(wantOutcomes, d.Outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	// Nothing more to do, even much later: delivered exactly once.
	c.Set(c.Now().Add(48 * time.Hour))
	if n := runOnce(t, w); n != 0 {
		t.Fatalf("after delivery: %d attempts, want 0", n)
	}
	reqs := rcv.requests()
	if len(reqs) != 5 || len(rcv.accepted()) != 1 {
		t.Fatalf("receiver saw %d requests, %d accepted, want 5 and 1", len(reqs), len(rcv.accepted()))
	}
	for _, q := range reqs {
		if q.Delivery != id || q.Event != webhook.KindComplianceChanged || q.UserAgent != "roster-collector" || q.ContentType != "application/json" {
			t.Errorf("headers: got delivery %q event %q UA %q CT %q", q.Delivery, q.Event, q.UserAgent, q.ContentType)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[4].Body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"id": "6f1c0a9e-0000-4000-8000-000000000001", "kind": "compliance.changed", "at": "2026-03-01T09:00:00Z",
		"device_id": "dev-1", "asset_tag": "ACME-0001", "subject": "CFG-ENC-01 now failing",
		"data": map[string]any{"policy": "CFG-ENC-01", "from": "pass", "to": "fail"},
	}
	if diff := cmp.Diff(wantBody, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestStatusOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status      int
		wantState   string
		wantAttempt int
		wantErr     string
	}{
		{200, webhooktest.Delivered, 1, ""},
		{202, webhooktest.Delivered, 1, ""},
		{204, webhooktest.Delivered, 1, ""},
		{410, webhooktest.GivenUp, 1, "410 Gone"},
		{400, webhooktest.Pending, 1, "HTTP 400"},
		{401, webhooktest.Pending, 1, "HTTP 401"},
		{404, webhooktest.Pending, 1, "HTTP 404"},
		{500, webhooktest.Pending, 1, "HTTP 500"},
		{503, webhooktest.Pending, 1, "HTTP 503"},
		{302, webhooktest.Pending, 1, "HTTP 302"}, // not followed
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			c := newClock()
			rcv := newReceiver(t, c, tt.status)
			st, id := setup(t, c, rcv.srv.URL)
			w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now})
			runOnce(t, w)
			d := delivery(t, st, id)
			if d.State != tt.wantState || d.Attempt != tt.wantAttempt || !strings.Contains(d.LastError, tt.wantErr) {
				t.Errorf("got state %s attempt %d error %q, want %s %d containing %q", d.State, d.Attempt, d.LastError, tt.wantState, tt.wantAttempt, tt.wantErr)
			}
			// A given-up or delivered delivery is never tried again.
			c.Set(c.Now().Add(24 * time.Hour))
			runOnce(t, w)
			wantReqs := 1
			if tt.wantState == webhooktest.Pending {
				wantReqs = 2
			}
			if got := len(rcv.requests()); got != wantReqs {
				t.Errorf("receiver saw %d requests, want %d", got, wantReqs)
			}
		})
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c, 500, 500, 500, 500, 500)
	st, id := setup(t, c, rcv.srv.URL)
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now, MaxAttempts: 3, Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	for range 3 {
		runOnce(t, w)
		c.Set(c.Now().Add(time.Hour))
	}
	d := delivery(t, st, id)
	if d.State != webhooktest.GivenUp || d.Attempt != 3 || d.LastError != "gave up after 3 attempts: HTTP 500: status 500" {
		t.Fatalf("got state %s attempt %d error %q, want given up after 3", d.State, d.Attempt, d.LastError)
	}
	if n := runOnce(t, w); n != 0 || len(rcv.requests()) != 3 {
		t.Fatalf("after giving up: %d attempts, receiver saw %d, want 0 and 3", n, len(rcv.requests()))
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c)
	rcv.block = true
	st, id := setup(t, c, rcv.srv.URL)
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now, Timeout: time.Second})
	runOnce(t, w)
	d := delivery(t, st, id)
	if d.State != webhooktest.Pending || d.Attempt != 1 || d.LastError != "no response within 1s" {
		t.Fatalf("got state %s attempt %d error %q, want pending attempt 1 with a timeout", d.State, d.Attempt, d.LastError)
	}
	c.Set(d.NextAttemptAt)
	runOnce(t, w)
	if d := delivery(t, st, id); d.State != webhooktest.Delivered || d.Attempt != 2 {
		t.Fatalf("got state %s attempt %d, want delivered on attempt 2", d.State, d.Attempt)
	}
	if got := len(rcv.accepted()); got != 1 {
		t.Fatalf("receiver accepted %d, want 1", got)
	}
}

func TestRestartContinuesPending(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c, 503)
	st, id := setup(t, c, rcv.srv.URL)

	// First collector: one failed attempt, then it "crashes" in the
	// middle of the second attempt, before any outcome is recorded.
	w1 := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now})
	runOnce(t, w1)
	before := delivery(t, st, id)
	c.Set(before.NextAttemptAt)
	rcv.mu.Lock()
	rcv.block = true
	rcv.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := w1.RunOnce(ctx); done <- err }()
	<-rcv.blocked
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if diff := cmp.Diff(before, delivery(t, st, id)); diff != "" {
		t.Fatalf("a cut-short attempt changed the store (-before +after):\n%s", diff)
	}

	// Second collector on the same store finishes the job.
	w2 := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now})
	if n := runOnce(t, w2); n != 1 {
		t.Fatalf("restarted worker made %d attempts, want 1", n)
	}
	if d := delivery(t, st, id); d.State != webhooktest.Delivered || d.Attempt != 2 {
		t.Fatalf("got state %s attempt %d, want delivered on attempt 2", d.State, d.Attempt)
	}
	if got := rcv.accepted(); len(got) != 1 || got[0].Delivery != id {
		t.Fatalf("receiver accepted %v, want the one delivery %s", got, id)
	}
}

// notifyStore tells the test when Run has polled and when it recorded a
// delivery, so the test waits on events, not on time.
type notifyStore struct {
	*webhooktest.Store
	polled    chan struct{}
	delivered chan string
}

func (s notifyStore) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Pending, error) {
	p, err := s.Store.Due(ctx, now, limit)
	select {
	case s.polled <- struct{}{}:
	default:
	}
	return p, err
}

func (s notifyStore) Delivered(ctx context.Context, id string, at time.Time) error {
	err := s.Store.Delivered(ctx, id, at)
	s.delivered <- id
	return err
}

func TestRunDeliversOnKick(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c)
	st := notifyStore{Store: webhooktest.New(), polled: make(chan struct{}, 1), delivered: make(chan string, 100)}
	st.PutEndpoint(webhook.Endpoint{ID: "ep1", URL: rcv.srv.URL, Secret: secret, Events: []string{"*"}, Enabled: true})
	st.PutEndpoint(webhook.Endpoint{ID: "ep2", URL: rcv.srv.URL, Secret: secret, Events: []string{"device.*"}, Enabled: true})
	st.PutEndpoint(webhook.Endpoint{ID: "off", URL: rcv.srv.URL, Secret: secret, Events: []string{"*"}, Enabled: false})

	// The poll interval is far longer than the test: only Kick can wake Run.
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now, PollInterval: time.Hour, Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-st.polled // the first, empty poll at start

	var want []string
	for i, kind := range []string{webhook.KindDeviceMissing, webhook.KindSoftwareBanned, webhook.KindDeviceUnregistered} {
		want = append(want, st.Enqueue(webhook.Event{Kind: kind, At: c.Now(), Subject: fmt.Sprint(i)}, c.Now())...)
	}
	w.Kick()
	var got []string
	for range want {
		select {
		case id := <-st.delivered:
			got = append(got, id)
		case <-time.After(time.Minute): // a hang guard, not a timing assert
			t.Fatalf("delivered %d of %d deliveries", len(got), len(want))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if len(want) != 5 { // 3 to ep1 ("*"), 2 to ep2 ("device.*"), none to the disabled one
		t.Errorf("enqueued %d deliveries, want 5", len(want))
	}
	if got := len(rcv.accepted()); got != 5 {
		t.Errorf("receiver accepted %d, want 5", got)
	}
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func TestConcurrencyLimitAndExactlyOnce(t *testing.T) {
	t.Parallel()
	c := newClock()
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		seen[r.Header.Get(webhook.HeaderDelivery)]++
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	st := webhooktest.New()
	st.PutEndpoint(webhook.Endpoint{ID: "ep", URL: srv.URL, Secret: secret, Events: []string{"*"}, Enabled: true})
	var ids []string
	for i := range 40 {
		ids = append(ids, st.Enqueue(webhook.Event{Kind: webhook.KindSoftwareInstalled, At: c.Now(), Subject: fmt.Sprint(i)}, c.Now())...)
	}
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now, Concurrency: 3})
	if n := runOnce(t, w); n != 40 {
		t.Fatalf("%d attempts, want 40", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxInFlight > 3 {
		t.Errorf("%d requests in flight at once, want at most 3", maxInFlight)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("delivery %s received %d times, want 1", id, seen[id])
		}
		if d := delivery(t, st, id); d.State != webhooktest.Delivered {
			t.Errorf("delivery %s is %s, want delivered", id, d.State)
		}
	}
}

func TestNoSecretURLInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	// A closed port: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClock()
	st, id := setup(t, c, "http://"+addr+"/services/T0/B0/PATHSECRET?token=QUERYSECRET")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := webhook.NewWorker(st, nil, logger, webhook.Options{Now: c.Now})
	runOnce(t, w)
	d := delivery(t, st, id)
	if d.State != webhooktest.Pending || d.Attempt != 1 || !strings.HasPrefix(d.LastError, "post: ") {
		t.Fatalf("got state %s attempt %d error %q, want a pending network failure", d.State, d.Attempt, d.LastError)
	}
	for what, text := range map[string]string{"last error": d.LastError, "logs": logs.String()} {
		if strings.Contains(text, "SECRET") || strings.Contains(text, secret) {
			t.Errorf("%s leak the endpoint URL or secret: %s", what, text)
		}
	}
	if !strings.Contains(logs.String(), addr) {
		t.Errorf("logs do not name the host %s: %s", addr, logs.String())
	}
}

func TestUnencodableEventIsGivenUp(t *testing.T) {
	t.Parallel()
	c := newClock()
	rcv := newReceiver(t, c)
	st := webhooktest.New()
	st.PutEndpoint(webhook.Endpoint{ID: "ep", URL: rcv.srv.URL, Secret: secret, Events: []string{"*"}, Enabled: true})
	ids := st.Enqueue(webhook.Event{Kind: "x.y", At: c.Now(), Data: json.RawMessage(`{"broken":`)}, c.Now())
	w := webhook.NewWorker(st, nil, nil, webhook.Options{Now: c.Now})
	runOnce(t, w)
	if d := delivery(t, st, ids[0]); d.State != webhooktest.GivenUp || !strings.Contains(d.LastError, "encode event") {
		t.Fatalf("got state %s error %q, want given up with an encode error", d.State, d.LastError)
	}
	if got := len(rcv.requests()); got != 0 {
		t.Fatalf("receiver saw %d requests, want 0", got)
	}
}
