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
	path := filepath.Join(t.TempDir(), "roster.db")
	r, err := OpenAndMigrate(ctx, StoreConfig{Engine: EngineSQLite, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// Every connection of the pool, not only the first.
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		if conns[i], err = r.db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		var pages int
		if err := conns[i].QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if pages != 0 {
			t.Errorf("connection %d: wal_autocheckpoint = %d, want 0 (the checkpointer's)", i, pages)
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

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
