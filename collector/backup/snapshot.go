package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the registry's SQLite store
	"github.com/rosterhq/roster/collector/audit"
)

// timeLayout is how the registry stores times (collector/registry).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// openSQLite opens a SQLite file for the backup's own reads: a snapshot
// of a live registry, or a restored copy being checked. It applies no
// migration and writes nothing unless a statement does.
func openSQLite(ctx context.Context, path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// snapshot copies the live database src into dst with VACUUM INTO: one
// read transaction, so the copy is consistent while the collector keeps
// writing (WAL readers do not block writers). dst is created empty 0600
// first, which SQLite accepts and which keeps the copy private whatever
// the umask.
func snapshot(ctx context.Context, src, dst string) error {
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	f.Close()
	db, err := openSQLite(ctx, src)
	if err != nil {
		return fmt.Errorf("open database %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, dst); err != nil {
		return fmt.Errorf("copy database %s (VACUUM INTO): %w", src, err)
	}
	return nil
}

// describe reads a database's schema version, row counts and audit head:
// the manifest's facts at backup, what the restored copy is compared
// with at verification.
func describe(ctx context.Context, db *sql.DB) (Manifest, error) {
	m := Manifest{Engine: "sqlite", Tables: map[string]int64{}}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return m, fmt.Errorf("list tables: %w", err)
	}
	tables, err := scanStrings(rows)
	if err != nil {
		return m, fmt.Errorf("list tables: %w", err)
	}
	return m, fillManifest(ctx, db, tables, &m)
}

// fillManifest counts the rows of tables and reads the migrations and the
// audit head into m; the SQL is the same on both engines.
func fillManifest(ctx context.Context, db *sql.DB, tables []string, m *Manifest) error {
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return fmt.Errorf("count rows of %s: %w", t, err)
		}
		m.Tables[t] = n
	}
	var err error
	if m.Migrations, err = appliedMigrations(ctx, db); err != nil {
		return err
	}
	if len(m.Migrations) > 0 {
		m.SchemaVersion = m.Migrations[len(m.Migrations)-1]
	}
	m.Audit, err = auditHead(ctx, db)
	return err
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func appliedMigrations(ctx context.Context, db *sql.DB) ([]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func auditHead(ctx context.Context, db *sql.DB) (AuditHead, error) {
	var h AuditHead
	err := db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&h.HeadSeq, &h.HeadHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("read audit log head: %w", err)
	}
	var c audit.Checkpoint
	var at string
	err = db.QueryRowContext(ctx, `SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.Signature)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return h, fmt.Errorf("read newest audit checkpoint: %w", err)
	default:
		if c.At, err = time.Parse(timeLayout, at); err != nil {
			return h, fmt.Errorf("read newest audit checkpoint: time %q: %w", at, err)
		}
		h.Checkpoint = &c
	}
	return h, nil
}
