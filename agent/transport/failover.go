package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rosterhq/roster/agent/state"
)

// Several collectors of one deployment share one store and one CA, so any
// of them can take any request: a report acknowledged by one is in the
// store all of them read, and the sequence numbers stay the device's own.
// The client therefore sends each request to the collector in use and, when
// that one does not answer (network error, failed TLS handshake, timeout)
// or answers 5xx or 421 Misdirected Request, to the next in the list, and
// stays with whichever answered. Any other 4xx is the deployment's answer
// and is returned as it is: another collector would say the same.
//
// A collector with another one behind it gets FailoverTimeout, at most one
// retry and the shortest retry wait; the last one tried gets the full
// retries, so one request takes at most about FailoverTimeout per
// collector before the last, plus what a single collector takes today.
//
// The list is in order of preference. After FailbackInterval away from the
// first collector, the next request tries the first again; if it still
// fails, the client goes on to the others and waits another interval.

// CollectorMemory keeps the collector in use between runs; *state.Dir is
// one.
type CollectorMemory interface {
	LastCollector() (state.CollectorChoice, error)
	RememberCollector(state.CollectorChoice) error
}

// Failover reports whether err, the outcome of a request to one of several
// collectors, is a reason to try the next: no answer at all, or a 5xx or
// 421 answer. A cancelled request is not: the caller gave up.
func Failover(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return failoverStatus(he.Status)
	}
	return true
}

func failoverStatus(code int) bool {
	return code >= 500 || code == http.StatusMisdirectedRequest
}

// Current is the collector in use: the one that answered last, or the one
// the next request goes to first.
func (c *Client) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.cur]
}

// Collectors are the collectors the client knows, in order of preference.
func (c *Client) Collectors() []string {
	return append([]string(nil), c.urls...)
}

// Do sends r to the collector in use and fails over as the package says.
// An HTTP answer of any status is a Response (from the last collector
// tried when every one failed); only a failure to get one is an error.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	if len(c.urls) == 1 {
		return c.at(ctx, c.urls[0], c.full, r)
	}
	now := c.opt.Now()
	start, failback := c.start(now)
	n := len(c.urls)
	var failed []error
	for i := range n {
		idx := (start + i) % n
		base := c.urls[idx]
		last := i == n-1
		rs, actx, cancel := c.full, ctx, context.CancelFunc(func() {})
		if !last {
			rs = c.brief
			actx, cancel = context.WithTimeout(ctx, c.opt.FailoverTimeout)
		}
		resp, err := c.at(actx, base, rs, r)
		cancel()
		if ctx.Err() != nil {
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		}
		if err == nil && !failoverStatus(resp.StatusCode) {
			c.settle(idx, failback, now)
			return resp, nil
		}
		if last {
			if err == nil {
				return resp, nil
			}
			return nil, fmt.Errorf("%w (and before it: %w)", err, errors.Join(failed...))
		}
		reason := err
		if reason == nil {
			reason = fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		next := c.urls[(idx+1)%n]
		c.opt.Logger.Warn("collector failed, trying the next", "collector", base, "next", next, "err", reason)
		failed = append(failed, fmt.Errorf("%s: %w", base, reason))
	}
	panic("unreachable")
}

// start is where a request begins: the collector in use, or the first
// once FailbackInterval has passed away from it.
func (c *Client) start(now time.Time) (idx int, failback bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != 0 && now.Sub(c.away) >= c.opt.FailbackInterval {
		return 0, true
	}
	return c.cur, false
}

// settle records that urls[idx] answered; failback says the request tried
// the first collector before it.
func (c *Client) settle(idx int, failback bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case idx == c.cur && (idx == 0 || !failback):
		return
	case idx == 0:
		c.opt.Logger.Info("back to the preferred collector", "collector", c.urls[0], "was", c.urls[c.cur])
	case idx != c.cur:
		c.opt.Logger.Warn("failed over to another collector", "collector", c.urls[idx], "was", c.urls[c.cur])
	default:
		c.opt.Logger.Info("preferred collector still failing; staying", "collector", c.urls[idx], "preferred", c.urls[0])
	}
	c.cur, c.away = idx, now
	if c.opt.Collectors == nil {
		return
	}
	if err := c.opt.Collectors.RememberCollector(state.CollectorChoice{Collector: c.urls[idx], Since: now.UTC()}); err != nil {
		c.opt.Logger.Warn("remember collector", "err", err)
	}
}

// restore starts with the collector a previous run remembered, when it is
// still in the list.
func (c *Client) restore() {
	if c.opt.Collectors == nil || len(c.urls) == 1 {
		return
	}
	choice, err := c.opt.Collectors.LastCollector()
	if err != nil {
		c.opt.Logger.Warn("read collector choice", "err", err)
		return
	}
	for i, u := range c.urls {
		if u == choice.Collector && choice.Collector != "" {
			c.cur, c.away = i, choice.Since
			return
		}
	}
}
