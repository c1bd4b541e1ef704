package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rosterhq/roster/collector/registry"
)

// TestWriteAfterCommit: a function registered with Tx.AfterCommit runs
// once after its transaction commits, outside the write lock and seeing
// what the transaction wrote; never when the transaction rolls back; and
// once, from the attempt that committed, when a conflict makes Write run
// the use case again.
func TestWriteAfterCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registry.OpenTestStore(t, registry.NewTestStore(t))
	if err := reg.Write(ctx, func(tx *registry.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE hook_test (n INTEGER NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := reg.Write(ctx, func(tx *registry.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM hook_test`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(tx *registry.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO hook_test (n) VALUES (1)`)
		return err
	}

	t.Run("commit runs it once, after the commit", func(t *testing.T) {
		before := count(t)
		var runs, seen int
		err := reg.Write(ctx, func(tx *registry.Tx) error {
			if err := insert(tx); err != nil {
				return err
			}
			// A hook that writes itself would deadlock if it ran under
			// the write lock; this one reads through a new Write.
			tx.AfterCommit(func() { runs++; seen = count(t) })
			return nil
		})
		if err != nil || runs != 1 || seen != before+1 {
			t.Errorf("got %v, %d runs seeing %d rows; want nil, 1 run seeing %d", err, runs, seen, before+1)
		}
	})

	t.Run("error runs nothing", func(t *testing.T) {
		before := count(t)
		runs := 0
		boom := errors.New("use case refused")
		err := reg.Write(ctx, func(tx *registry.Tx) error {
			if err := insert(tx); err != nil {
				return err
			}
			tx.AfterCommit(func() { runs++ })
			return boom
		})
		if !errors.Is(err, boom) || runs != 0 || count(t) != before {
			t.Errorf("got %v, %d runs, %d rows; want the error, no run, %d rows (rolled back)", err, runs, count(t), before)
		}
	})

	t.Run("retried attempt runs it once", func(t *testing.T) {
		before := count(t)
		attempts, runs := 0, map[int]int{}
		err := reg.Write(ctx, func(tx *registry.Tx) error {
			attempts++
			attempt := attempts
			if err := insert(tx); err != nil {
				return err
			}
			tx.AfterCommit(func() { runs[attempt]++ })
			if attempt == 1 {
				// What PostgreSQL answers a transaction that lost a
				// conflict: Write runs the use case again.
				return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
			}
			return nil
		})
		if err != nil || attempts != 2 || len(runs) != 1 || runs[2] != 1 || count(t) != before+1 {
			t.Errorf("got %v after %d attempts, runs by attempt %v, %d rows; want nil after 2, only attempt 2's hook once, %d rows",
				err, attempts, runs, count(t), before+1)
		}
	})

	t.Run("nested write from a hook does not deadlock", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			done <- reg.Write(ctx, func(tx *registry.Tx) error {
				tx.AfterCommit(func() {
					if err := reg.Write(ctx, insert); err != nil {
						t.Error(err)
					}
				})
				return nil
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a hook's own Write waited for the write lock its transaction held")
		}
	})
}
