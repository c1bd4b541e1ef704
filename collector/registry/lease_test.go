package registry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
)

// twoInstances opens one database twice, as two collector instances
// sharing a store would.
func twoInstances(t *testing.T) (a, b *registry.Registry) {
	t.Helper()
	store := registry.NewTestStore(t)
	ctx := context.Background()
	a, err := registry.OpenAndMigrate(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = registry.OpenAndMigrate(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// TestTryLeaseRace has two instances (each with several goroutines, as a
// collector's jobs and API calls would) race for one lease, period after
// period: exactly one holder wins each period, keeps it while it renews,
// and loses it to the other only once it expired.
func TestTryLeaseRace(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	ctx := context.Background()
	const (
		period  = time.Minute
		ttl     = 3 * period
		racers  = 4 // goroutines per instance
		periods = 40
	)
	regs := map[string]*registry.Registry{"a": a, "b": b}
	holders := map[string]string{"a": registry.NewLeaseHolder(), "b": registry.NewLeaseHolder()}
	if holders["a"] == holders["b"] {
		t.Fatalf("two instances got one holder name %q", holders["a"])
	}
	race := func(now time.Time) map[string]int {
		var mu sync.Mutex
		wins := map[string]int{}
		var wg sync.WaitGroup
		for name, reg := range regs {
			for range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := reg.TryLease(ctx, "job", holders[name], ttl, now)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						wins[name]++
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		return wins
	}
	now := t0
	var holder string
	for p := range periods {
		if p == periods/2 {
			// The holder stops renewing (it died): until the lease
			// expires nobody else gets it, then the other instance does.
			last := now.Add(-period)
			other := map[string]string{"a": "b", "b": "a"}[holder]
			for _, at := range []time.Time{last.Add(ttl - time.Second), last.Add(ttl)} {
				ok, err := regs[other].TryLease(ctx, "job", holders[other], ttl, at)
				if err != nil {
					t.Fatal(err)
				}
				if want := !at.Before(last.Add(ttl)); ok != want {
					t.Fatalf("%s took the lease %s after its last renewal: %v, want %v", other, at.Sub(last), ok, want)
				}
			}
			holder, now = other, last.Add(ttl)
		}
		wins := race(now)
		if len(wins) != 1 {
			t.Fatalf("period %d: winners %v, want exactly one instance", p, wins)
		}
		for name, n := range wins {
			// Every goroutine of the winning instance holds it (a
			// renewal), none of the other's.
			if n != racers {
				t.Errorf("period %d: %s won %d of %d tries", p, name, n, racers)
			}
			if p > 0 && name != holder {
				t.Fatalf("period %d: %s took the lease %s held", p, name, holder)
			}
			holder = name
		}
		now = now.Add(period)
	}
}

// TestLeaseRelease checks that a released lease is free at once, that
// releasing someone else's lease does nothing, and that leases are
// independent by name.
func TestLeaseRelease(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	ctx := context.Background()
	ha, hb := registry.NewLeaseHolder(), registry.NewLeaseHolder()
	try := func(reg *registry.Registry, name, holder string, want bool) {
		t.Helper()
		ok, err := reg.TryLease(ctx, name, holder, time.Hour, t0)
		if err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Fatalf("TryLease(%s, %s) = %v, want %v", name, holder, ok, want)
		}
	}
	try(a, "flags", ha, true)
	try(b, "flags", hb, false)
	try(b, "wipes", hb, true)
	if err := b.Release(ctx, "flags", hb); err != nil {
		t.Fatal(err)
	}
	try(b, "flags", hb, false)
	if err := a.Release(ctx, "flags", ha); err != nil {
		t.Fatal(err)
	}
	try(b, "flags", hb, true)
	try(a, "wipes", ha, false)

	if _, err := a.TryLease(ctx, "", ha, time.Hour, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("empty name: got %v, want ErrInvalid", err)
	}
	if _, err := a.TryLease(ctx, "x", ha, 0, t0); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("zero ttl: got %v, want ErrInvalid", err)
	}
}
