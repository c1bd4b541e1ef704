// Package throttle counts failed authentications per source address, so
// the API and the web console refuse a source that keeps presenting bad
// credentials (guessing tokens, spraying passwords over many accounts)
// before it is even checked. Per-account lockout is the registry's; this
// is per address and in memory, one window per minute.
package throttle

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultBurst is how many failures a source may make per Window.
const DefaultBurst = 10

// Window is the counting window.
const Window = time.Minute

// Limiter counts failures per source.
type Limiter struct {
	mu    sync.Mutex
	now   func() time.Time
	burst int
	fails map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// New allows burst failures per window (0: DefaultBurst; negative: no
// limit); now is the clock.
func New(now func() time.Time, burst int) *Limiter {
	if burst == 0 {
		burst = DefaultBurst
	}
	return &Limiter{now: now, burst: burst, fails: map[string]*window{}}
}

// Blocked returns how long src must wait, or 0.
func (l *Limiter) Blocked(src string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.fails[src]
	if w == nil || l.burst < 0 {
		return 0
	}
	left := Window - l.now().Sub(w.start)
	if left <= 0 {
		delete(l.fails, src)
		return 0
	}
	if w.n >= l.burst {
		return left
	}
	return 0
}

// Fail records a failed authentication from src.
func (l *Limiter) Fail(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > 10000 {
		// Forget finished windows so a scan from many addresses cannot grow
		// the map without bound.
		for k, w := range l.fails {
			if now.Sub(w.start) >= Window {
				delete(l.fails, k)
			}
		}
	}
	w := l.fails[src]
	if w == nil || now.Sub(w.start) >= Window {
		w = &window{start: now}
		l.fails[src] = w
	}
	w.n++
}

// Source is the address a request's failures are counted under (and the
// audit log records): the client's IP without its port.
func Source(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
