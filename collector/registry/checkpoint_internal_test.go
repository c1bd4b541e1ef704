package registry

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointerCopiesCommitsIntoTheDatabase: the registry's SQLite
// connections leave checkpoints to the checkpointer (wal_autocheckpoint
// 0), and a commit reaches the database file without waiting for the
// write-ahead log to fill. 1 MB is a quarter of the 1,000 pages at which
// SQLite's own automatic checkpoint would have run, so only the
// checkpointer can have copied it.
func TestCheckpointerCopiesCommitsIntoTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, path := openSQLite(t)
	var err error

	// Every connection of the pool, not only the first.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		if conns[i], err = r.db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		var pages, limit int
		if err := conns[i].QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if err := conns[i].QueryRowContext(ctx, `PRAGMA journal_size_limit`).Scan(&limit); err != nil {
			t.Fatal(err)
		}
		if pages != 0 || limit != walSizeLimit {
			t.Errorf("connection %d: wal_autocheckpoint = %d, journal_size_limit = %d; want 0 (the checkpointer's) and %d", i, pages, limit, walSizeLimit)
		}
		// Statement journals in memory (connectPragmas): 2 is MEMORY.
		var temp int
		if err := conns[i].QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp); err != nil {
			t.Fatal(err)
		}
		if temp != 2 {
			t.Errorf("connection %d: temp_store = %d, want 2 (memory)", i, temp)
		}
	}
	for _, c := range conns {
		c.Close()
	}

	before := fileSize(t, path)
	const blob = 1 << 20
	err = r.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE checkpoint_probe (b BLOB)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoint_probe VALUES ($1)`, []byte(strings.Repeat("x", blob)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+blob {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 10 s after a commit of %d (from %d): not checkpointed", fileSize(t, path), blob, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openSQLite opens a migrated registry on a new SQLite file, whatever
// ROSTER_TEST_STORE says: checkpoints are SQLite's.
func openSQLite(t *testing.T) (*Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.db")
	r, err := OpenAndMigrate(context.Background(), StoreConfig{Engine: EngineSQLite, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, path
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckpointerKeepsTheLogBounded: writers that never pause (the
// registry's write lock always has one waiting) still let the log start
// over. A checkpoint beside the writes never finds every page copied, so
// without one run while this process's writers wait, the log grew with
// everything written (3 GB in a 10,000-device fleet run's storm).
func TestCheckpointerKeepsTheLogBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, path := openSQLite(t)
	if err := r.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE checkpoint_probe (k INTEGER PRIMARY KEY, b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// 4 writers, 256 MB in all, each transaction rewriting 256 KB of rows.
	const writers, txs, rows = 4, 256, 16
	blob := []byte(strings.Repeat("x", 16<<10))
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range txs {
				err := r.write(ctx, func(tx *sql.Tx) error {
					for k := range rows {
						if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checkpoint_probe (k, b) VALUES ($1, $2)`, (w*txs+i)%8*rows+k, blob); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// A log that never starts over holds everything written (274 MB here
	// without the checkpointer's second pass). One that does peaks at the
	// write rate times the time between checkpoints (here, with nothing
	// else to do, ~500 MB/s: ~80 MB) and is cut back to walSizeLimit.
	if n := fileSize(t, path+"-wal"); n > 128<<20 {
		t.Errorf("the write-ahead log grew to %d MB with 256 MB written: it did not start over", n>>20)
	}
}
