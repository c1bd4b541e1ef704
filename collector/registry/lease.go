package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Leases make "exactly one instance" true for collectors sharing one
// database: a job that must run once (a periodic sweep, the fleet
// evaluation) runs only in the instance holding its lease. A lease is a
// row (leases: name, holder, expires_at) taken, renewed and handed over
// by one INSERT … ON CONFLICT DO UPDATE … WHERE statement, which both
// engines run atomically per row: of two instances racing for a free or
// expired lease, the second's WHERE sees the first's row and fails, so at
// most one wins. A holder that stops renewing (a crashed instance) loses
// the lease when it expires; Release hands it over at once.
//
// Expiry compares times written by the instances' own clocks, so those
// clocks must agree to well within a ttl (NTP does); ttls are several
// periods of the job for that reason too.

// TryLease takes the lease name for holder until now+ttl when it is free,
// expired or already holder's (a renewal), and reports whether holder
// holds it now.
func (r *Registry) TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("take lease %q: %w", name, ErrInvalid)
	}
	ts := fmtTime(now)
	var won bool
	err := r.Write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
				acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
			WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at`,
			name, holder, ts, fmtTime(now.Add(ttl)))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("take lease %q: %w", name, err)
	}
	return won, nil
}

// Release gives up holder's lease name, so another instance can take it
// at once; a lease holder does not hold is left alone.
func (r *Registry) Release(ctx context.Context, name, holder string) error {
	err := r.Write(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}

// NewLeaseHolder returns a holder name for one instance (or one use):
// host and process for whoever reads the leases table, and random bytes
// so two registries in one process, or a restarted process with the same
// pid, never share a name.
func NewLeaseHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Fleet evaluation guard. Two fleet evaluations writing at once could
// leave a device judged by the older policy set (EvaluateAll's update
// checks only that no report came in between), so one runs at a time
// across every instance: each EvaluateAll call takes this lease under a
// holder of its own, waits while another call holds it, and renews it
// while it runs.
const (
	fleetEvalLease = "compliance.evaluation_running"
	// fleetEvalTTL outlives any pause of a live holder; a holder that
	// died blocks evaluations for at most this long.
	fleetEvalTTL = time.Minute
	// fleetEvalPoll is the longest wait between attempts to take it.
	fleetEvalPoll = 500 * time.Millisecond
)

// errLeaseLost ends an evaluation whose guard was taken over (its holder
// could not renew in time): it must not go on writing.
var errLeaseLost = errors.New("fleet evaluation lease lost")

// holdFleetEvaluation waits until this call holds the fleet evaluation
// lease and returns a context that ends if the lease is lost, and the
// function that releases it. Leases use the wall clock: EvaluateAll's now
// may be a test clock, and expiry is about live processes.
func (r *Registry) holdFleetEvaluation(ctx context.Context) (context.Context, func(), error) {
	holder := NewLeaseHolder()
	wait := 10 * time.Millisecond
	for {
		ok, err := r.TryLease(ctx, fleetEvalLease, holder, fleetEvalTTL, time.Now())
		if err != nil {
			return nil, nil, err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("wait for the fleet evaluation lease: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, fleetEvalPoll)
	}
	run, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(fleetEvalTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-run.Done():
				return
			case <-t.C:
			}
			ok, err := r.TryLease(run, fleetEvalLease, holder, fleetEvalTTL, time.Now())
			if run.Err() != nil {
				return
			}
			if err != nil {
				cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
				return
			}
			if !ok {
				cancel(errLeaseLost)
				return
			}
		}
	}()
	release := func() {
		cancel(nil)
		<-done
		// The caller's ctx may be over; the lease is still ours to give.
		if err := r.Release(context.WithoutCancel(ctx), fleetEvalLease, holder); err != nil {
			r.logger.Warn("release fleet evaluation lease", "err", err)
		}
	}
	return run, release, nil
}
