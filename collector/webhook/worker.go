package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Defaults for Options fields left zero.
const (
	DefaultConcurrency = 4
	// DefaultMaxAttempts makes the default backoff span about 24 hours
	// (9 growing delays, then one attempt an hour), so a receiver that is
	// down overnight still gets every event.
	DefaultMaxAttempts  = 33
	DefaultTimeout      = 10 * time.Second
	DefaultPollInterval = 5 * time.Second
)

// Options tune a Worker. Zero fields take the defaults above.
type Options struct {
	// Concurrency is how many deliveries are in flight at once.
	Concurrency int
	// MaxAttempts is how many failed attempts give a delivery up.
	MaxAttempts int
	// Backoff is the delay after the attempt-th failed attempt (1-based).
	// Default: DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// Timeout bounds one request, from dial to the response headers and
	// the first bytes of the body.
	Timeout time.Duration
	// PollInterval is how often Run looks for due deliveries when nobody
	// calls Kick; it also bounds how late a retry runs.
	PollInterval time.Duration
	// Now is the clock used to select due deliveries, sign and schedule.
	Now func() time.Time
}

// DefaultBackoff is 10s doubled per failed attempt (10s, 20s, 40s, ...),
// capped at 1h, minus up to 10% random jitter so that deliveries which
// failed together do not retry in lockstep. It is never more than the cap.
func DefaultBackoff(attempt int) time.Duration {
	const base, limit = 10 * time.Second, time.Hour
	d := limit
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // 10s << 19 is already far past the cap
		d = min(base<<(attempt-1), limit)
	}
	return d - rand.N(d/10+1)
}

// Worker sends due deliveries from a Store. Use one Worker per Store.
type Worker struct {
	store  Store
	client *http.Client
	log    *slog.Logger
	opts   Options
	kick   chan struct{}

	mu       sync.Mutex
	inflight map[string]struct{} // delivery ids being attempted
}

// NewWorker returns a Worker. A nil client gets one that does not follow
// redirects (a 3xx is retried like any failure: a receiver that moved must
// be reconfigured, not followed blindly with a signed body).
func NewWorker(store Store, client *http.Client, logger *slog.Logger, opts Options) *Worker {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Worker{
		store:    store,
		client:   client,
		log:      logger,
		opts:     opts,
		kick:     make(chan struct{}, 1),
		inflight: map[string]struct{}{},
	}
}

// Kick wakes Run to look for due deliveries now, e.g. right after the
// registry queued new events. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due deliveries until ctx is cancelled, then waits for the
// attempts in flight and returns nil. An attempt cut short by the
// cancellation is not recorded, so it is sent again after a restart.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-timer.C:
		}
		if _, err := w.dispatch(ctx, &wg); err != nil && ctx.Err() == nil {
			w.log.Warn("webhook outbox", "err", err)
		}
		timer.Reset(w.opts.PollInterval)
	}
}

// RunOnce attempts every delivery due at Options.Now, Concurrency at a time,
// and returns when their outcomes are recorded, with the number of attempts
// made. It is Run without the waiting, for tests and one-shot commands; do
// not call it while Run is running on the same Worker.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		var wg sync.WaitGroup
		n, err := w.dispatch(ctx, &wg)
		wg.Wait()
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// dispatch starts attempts for due deliveries that are not in flight, up
// to the free concurrency, and returns how many it started.
func (w *Worker) dispatch(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	if ctx.Err() != nil {
		return 0, nil // shutting down: start nothing new
	}
	w.mu.Lock()
	busy := len(w.inflight)
	w.mu.Unlock()
	free := w.opts.Concurrency - busy
	if free <= 0 {
		return 0, nil
	}
	// Ask for the busy ones too: they may be the oldest due and are skipped.
	due, err := w.store.Due(ctx, w.opts.Now(), free+busy)
	if err != nil {
		return 0, fmt.Errorf("list due webhook deliveries: %w", err)
	}
	started := 0
	for _, p := range due {
		if started == free {
			break
		}
		id := p.Delivery.ID
		w.mu.Lock()
		_, busy := w.inflight[id]
		if !busy {
			w.inflight[id] = struct{}{}
		}
		w.mu.Unlock()
		if busy {
			continue
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.attempt(ctx, p)
			// Only after the outcome is stored, or Due could hand the
			// same delivery out again before it is recorded.
			w.mu.Lock()
			delete(w.inflight, id)
			w.mu.Unlock()
			w.Kick()
		}()
	}
	return started, nil
}

// errGone marks a 410: the receiver asked us to stop.
var errGone = errors.New("HTTP 410 Gone: receiver asked to stop")

// attempt sends one delivery and records the outcome.
func (w *Worker) attempt(ctx context.Context, p Pending) {
	d := p.Delivery
	log := w.log.With("delivery", d.ID, "endpoint", p.Endpoint.ID, "host", host(p.Endpoint.URL), "event", p.Event.Kind)
	if !p.Endpoint.Enabled {
		return // the Store should not return these; leave them for re-enabling
	}
	n := d.Attempt + 1
	err := w.send(ctx, p)
	if err != nil && ctx.Err() != nil {
		return // shutting down, not the receiver's fault: stays due
	}
	// Record even while shutting down: the receiver has answered.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := w.opts.Now()
	switch {
	case err == nil:
		if err := w.store.Delivered(rctx, d.ID, now); err != nil {
			log.Error("record webhook delivered (it will be sent again)", "err", err)
			return
		}
		log.Debug("webhook delivered", "attempt", n)
	case errors.Is(err, errGone) || errors.Is(err, errEncode) || n >= w.opts.MaxAttempts:
		msg := err.Error()
		if n >= w.opts.MaxAttempts && !errors.Is(err, errGone) {
			msg = fmt.Sprintf("gave up after %d attempts: %s", n, msg)
		}
		if err := w.store.GiveUp(rctx, d.ID, msg); err != nil {
			log.Error("record webhook given up", "err", err)
			return
		}
		log.Warn("webhook delivery given up", "attempt", n, "err", msg)
	default:
		next := now.Add(w.opts.Backoff(n))
		if err := w.store.Failed(rctx, d.ID, n, next, err.Error()); err != nil {
			log.Error("record webhook failure", "err", err)
			return
		}
		log.Info("webhook delivery failed, will retry", "attempt", n, "next", next, "err", err)
	}
}

var errEncode = errors.New("cannot encode event")

// send POSTs the event and returns nil on 2xx. Errors never contain the
// endpoint URL: its path or query is often the secret (Slack, Teams).
func (w *Worker) send(ctx context.Context, p Pending) error {
	b, err := Body(p.Event)
	if err != nil {
		return fmt.Errorf("%w: %v", errEncode, err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Endpoint.URL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: build request: bad endpoint url", errEncode)
	}
	ts := w.opts.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderEvent, p.Event.Kind)
	req.Header.Set(HeaderDelivery, p.Delivery.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(p.Endpoint.Secret, ts, b))
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("no response within %s", w.opts.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return errGone
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if s := printable(snippet); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

// printable keeps a response snippet safe to store and log.
func printable(b []byte) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, string(b)))
}

// host is what logs show of an endpoint URL.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
