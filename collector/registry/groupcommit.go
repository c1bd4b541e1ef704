package registry

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// maxGroup is the most jobs one group transaction runs. It bounds how long
// the last of them waits for the first's commit (a delta report's SQL is
// ~1 ms, a full report's ~10 ms).
const maxGroup = 64

// groupQueue is WriteGrouped's queue of waiting jobs. busy says a leader
// is running a group; while it is false the queue is empty.
type groupQueue struct {
	mu   sync.Mutex
	busy bool
	jobs []*groupJob
}

// groupJob is one WriteGrouped call waiting in the queue or running.
type groupJob struct {
	ctx context.Context
	fn  func(ctx context.Context, tx *Tx) error
	// wake is closed when the job is done, or when its caller is to lead
	// the next group (lead is then true).
	wake chan struct{}
	lead bool
	// err is the job's outcome, after the functions to run once its
	// group committed; retry says it met a conflict another run resolves
	// and its caller runs it again alone.
	err   error
	after []func()
	retry bool
	// statement says fn runs one statement (WriteGroupedStatement).
	statement bool
}

// WriteGrouped is Write for the small use cases every agent runs at once
// (reports, heartbeats): concurrent calls share one transaction and one
// commit — group commit, the way databases batch their log writes. The
// first caller in line leads: it takes up to maxGroup waiting jobs, runs
// each in a savepoint of its own inside one write transaction and commits
// once, then hands the lead to the next caller in line. A job whose fn
// fails is rolled back to its savepoint, so it leaves nothing and the
// others in its group are unaffected; one job's error is only its own.
//
// fn gets a context without the caller's cancellation (its values, such as
// the actor the audit log records, are kept): once a job has started in a
// shared transaction it runs to the end, because interrupting a statement
// can roll back the whole transaction on SQLite. A caller whose context is
// done before its job starts gets the context's error and nothing is
// written. fn must meet Write's terms: no effect outside tx but results it
// recomputes on every run, post-commit effects through Tx.AfterCommit.
func (r *Registry) WriteGrouped(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return r.writeGrouped(&groupJob{ctx: ctx, fn: fn, wake: make(chan struct{})})
}

// WriteGroupedStatement is WriteGrouped for a job whose fn runs one
// statement (a heartbeat's UPDATE). On SQLite a statement that finds no
// row or breaks a constraint undoes its own changes and leaves the
// transaction as it was, so such a job runs without a savepoint of its
// own: two statements fewer, a third of what a heartbeat ran in the shared
// transaction. Any other error of such a job (a full disk, an I/O error,
// which can end the whole transaction) fails every job of the group, as a
// savepoint that cannot be rolled back to does. On PostgreSQL, where a
// failed statement aborts the transaction, it gets its savepoint like any
// job.
func (r *Registry) WriteGroupedStatement(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return r.writeGrouped(&groupJob{ctx: ctx, fn: fn, wake: make(chan struct{}), statement: !r.dia.postgres()})
}

func (r *Registry) writeGrouped(j *groupJob) error {
	ctx, fn := j.ctx, j.fn
	g := &r.group
	g.mu.Lock()
	g.jobs = append(g.jobs, j)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		<-j.wake
		lead = j.lead
	}
	if lead {
		// Let the callers that are about to queue do so first: a leader
		// that starts at once runs a group of one while the next jobs are
		// a moment from the queue. One yield to the scheduler (no system
		// call) puts them in this group instead of the next: under 8
		// agents in flight ~20 % more heartbeats and ~5 % more deltas a
		// second, with fewer BEGINs, COMMITs and log pages per job
		// (docs/fleet.md, "Yielding before leading").
		runtime.Gosched()
		r.leadGroup(g)
	}
	if j.err != nil {
		return j.err
	}
	if j.retry {
		// A conflict with another collector's transaction: alone, with
		// Write's retries.
		return r.Write(ctx, func(tx *Tx) error { return fn(context.WithoutCancel(ctx), tx) })
	}
	for _, f := range j.after {
		f()
	}
	return nil
}

// leadGroup runs the group at the head of the queue (the leader's own job
// is first in it), hands the lead to the next waiting job, and wakes the
// group's other callers.
func (r *Registry) leadGroup(g *groupQueue) {
	g.mu.Lock()
	n := min(len(g.jobs), maxGroup)
	batch := make([]*groupJob, n)
	copy(batch, g.jobs)
	g.jobs = g.jobs[n:]
	g.mu.Unlock()

	r.runGroup(batch)

	g.mu.Lock()
	if len(g.jobs) > 0 {
		next := g.jobs[0]
		next.lead = true
		close(next.wake)
	} else {
		g.busy = false
		g.jobs = nil
	}
	g.mu.Unlock()
	for _, j := range batch[1:] {
		close(j.wake)
	}
}

// runGroup runs batch in one write transaction, retrying the whole group
// when the transaction itself meets a conflict (as Write does).
func (r *Registry) runGroup(batch []*groupJob) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// The group's transaction outlives any one caller's request.
	ctx := context.WithoutCancel(batch[0].ctx)
	for attempt := 1; ; attempt++ {
		err := r.inTx(ctx, func(stx *sql.Tx) error {
			if err := r.dia.lockWrites(ctx, stx); err != nil {
				return err
			}
			return runJobs(ctx, stx, &r.reasons, batch)
		})
		if err == nil {
			return
		}
		if attempt == writeAttempts || !retryable(err) {
			for _, j := range batch {
				if j.err == nil && !j.retry {
					j.err, j.after = err, nil
				}
			}
			return
		}
		r.logger.Debug("group write conflicts with another transaction; retrying", "attempt", attempt, "jobs", len(batch), "err", err)
		time.Sleep(backoff(attempt))
	}
}

// runJobs runs each job of a group in stx, each inside a savepoint when
// the group has more than one, and records each job's outcome. Its error
// is the transaction's: only a savepoint that cannot be taken, rolled
// back or released fails the group.
func runJobs(ctx context.Context, stx *sql.Tx, dict *reasonDict, batch []*groupJob) error {
	alone := len(batch) == 1
	for _, j := range batch {
		j.err, j.after, j.retry = nil, nil, false
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		own := !alone && !j.statement
		if own {
			if _, err := stx.ExecContext(ctx, `SAVEPOINT roster_job`); err != nil {
				return fmt.Errorf("group write: take a savepoint: %w", err)
			}
		}
		tx := &Tx{Tx: stx, dict: dict}
		err := j.fn(context.WithoutCancel(j.ctx), tx)
		if err != nil && alone {
			// The transaction rolls back whole and runGroup retries a
			// conflict, as Write does.
			return err
		}
		if err != nil && !own && !statementUndone(err) {
			// The statement may have ended the transaction itself
			// (SQLite rolls it back on a full disk or an I/O error):
			// the group fails, as it does when a savepoint cannot be
			// rolled back to.
			return err
		}
		if err != nil {
			if own {
				if _, rerr := stx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT roster_job`); rerr != nil {
					return fmt.Errorf("group write: roll back a failed job (%v): %w", err, rerr)
				}
			}
			j.retry = retryable(err)
			if !j.retry {
				j.err = err
			}
		} else {
			j.after = tx.after
		}
		if own {
			if _, err := stx.ExecContext(ctx, `RELEASE SAVEPOINT roster_job`); err != nil {
				return fmt.Errorf("group write: release a savepoint: %w", err)
			}
		}
	}
	return nil
}
