// Package registry is the collector's asset registry: the store (SQLite,
// or PostgreSQL for several collectors: store.go), its numbered migrations
// per engine, and the use cases over it — enrolment with hardware-identity
// matching, idempotent report apply with change history, the register's
// links and flags, offboarding, enrolment secrets, API tokens and the read
// queries of the REST API. Every write is one transaction, so a rejected
// request leaves nothing behind. Decisions that need no database live in
// pure packages the registry calls between loading the rows in scope and
// writing the difference: the wipe lifecycle in collector/offboard, the
// asset field table in collector/assetcsv, device-asset link matching and
// the register flags in collector/register, policy evaluation and result
// diffing in collector/compliance. SQL uses $1-style placeholders so the same
// statements run on both engines; with SQLite each $N must first appear in
// ascending order, because the driver binds arguments by position of first
// appearance, and with PostgreSQL a $N used twice must have one type in
// both places.
package registry

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3" // the embedded store
	"github.com/rosterhq/roster/collector/fault"
)

// Each engine has its own migrations, one file per version with the same
// numbers in both directories (TestMigrationVersionsMatch).
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Errors a person is shown, with their public code; the API maps each
// Kind to an HTTP status. A particular error is made with Errorf on one of
// them (ErrNotFound.Errorf("no asset %q", tag)), so its message is written
// where it is made and errors.Is(err, ErrNotFound) still holds.
var (
	ErrNotFound  = fault.New(fault.NotFound, "not_found", "not found")
	ErrAmbiguous = fault.New(fault.Conflict, "conflict", "reference names several devices: use the device id")
	// ErrSecretInvalid is 403, not 401: the caller is an agent, not a
	// token holder, and the secret is its only credential.
	ErrSecretInvalid = fault.New(fault.Forbidden, "secret_invalid", "enrolment secret unknown, revoked, expired or used up")
	// ErrCertificateRevoked is wrapped, never refined, so the details
	// (serial, device) stay in the log and the client is told only this.
	ErrCertificateRevoked = fault.New(fault.Forbidden, "certificate_revoked", "client certificate is revoked or unknown")
	ErrUnauthenticated    = fault.New(fault.Unauthenticated, "unauthenticated", "unknown or revoked API token")
	ErrBadReport          = fault.New(fault.Invalid, "bad_report", "bad report")
	ErrInvalid            = fault.New(fault.Invalid, "bad_parameter", "invalid argument")
)

// Registry is the store. It is safe for concurrent use.
type Registry struct {
	db     *sql.DB
	logger *slog.Logger
	// dia spells what the engines write differently (store.go).
	dia dialect
	// writeMu serialises write transactions inside this process so that
	// writers queue in Go instead of spinning on SQLite's busy handler.
	// That is its only role: what must follow a commit is registered with
	// Tx.AfterCommit, not timed by waiting for this lock.
	writeMu sync.Mutex
	// group queues WriteGrouped's jobs (groupcommit.go).
	group groupQueue
	snaps *snapCache
	// comp is the compliance configuration in force (compliance.go).
	comp complianceHolder
	// reasons is the committed part of the compliance reasons' dictionary
	// (reasons.go).
	reasons reasonDict
	// missingAfter is SetMissingAfter's window in nanoseconds (0: default).
	missingAfter atomic.Int64
	// reenrollAfter and commandLifetime are SetEnrolmentPolicy's
	// durations in nanoseconds (0: default).
	reenrollAfter, commandLifetime atomic.Int64
	// singlePerson is AllowSinglePersonWipes (wipe.go).
	singlePerson atomic.Bool
	// quietReports leaves applied reports out of the audit log
	// (SetAuditReports(false)).
	quietReports atomic.Bool
	// restore is the post-restore adoption window (restore.go), loaded on
	// first use; adopted remembers certificates already found or adopted.
	restore restoreState
	// ckpt checkpoints SQLite's write-ahead log after commits
	// (checkpoint.go); nil on PostgreSQL.
	ckpt *checkpointer
}

// SetAuditReports says whether every report that changes a device is
// recorded in the audit log (the default) or only in the device's history
// (config audit.device_reports: false).
func (r *Registry) SetAuditReports(on bool) { r.quietReports.Store(!on) }

// Open opens (creating if needed) the SQLite database at path. It applies
// no migration: Migrate does, when a caller asks (OpenAndMigrate, serve,
// roster-collector migrate), and Ready says whether the schema is current.
// The database and its -wal and -shm files are made readable by their
// owner only (filemode.go).
func Open(ctx context.Context, path string, logger *slog.Logger) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := createDBFile(path); err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if err := tightenDBFiles(path); err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	q.Set("_synchronous", "NORMAL")
	// Every report runs the same few dozen statements; preparing each
	// once per connection instead of once per use saved ~15 % of the
	// delta apply (the audit entry's two statements included).
	q.Set("_stmt_cache_size", "256")
	db := sql.OpenDB(newSQLiteConnector("file:" + path + "?" + q.Encode()))
	if err := pingSQLite(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	// Keep the connections concurrent requests open: database/sql keeps 2
	// idle by default, so under load every request past the second opened
	// a connection, parsed the schema on its first statement and closed
	// it again with its statement cache (~1/3 of a heartbeat's CPU at 8
	// in flight). Each idle connection holds up to its page cache (2 MB).
	db.SetMaxIdleConns(sqliteIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	r := newRegistry(db, logger, dialect{engine: EngineSQLite})
	// The -wal and -shm files exist now that a connection is open.
	if err := tightenDBFiles(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	r.ckpt = startCheckpointer(db, logger, &r.writeMu)
	return r, nil
}

// sqliteIdleConns is how many SQLite connections stay open between
// requests.
const sqliteIdleConns = 16

// pingSQLite opens the first connection, retrying while the file is busy.
// A connection's set-up switches the file to WAL; when another process
// (a second collector, a migrate command) is doing the same on a new file,
// SQLite answers SQLITE_BUSY at once, without waiting out busy_timeout, so
// the wait is here: up to the same 5 s.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(5 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var serr sqlite3.Error
		if err == nil || !errors.As(err, &serr) ||
			(serr.Code != sqlite3.ErrBusy && serr.Code != sqlite3.ErrLocked) ||
			time.Now().Add(delay).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func newRegistry(db *sql.DB, logger *slog.Logger, dia dialect) *Registry {
	return &Registry{db: db, logger: logger, dia: dia, snaps: newSnapCache(defaultCacheBytes)}
}

// Close closes the database.
func (r *Registry) Close() error {
	r.ckpt.stop()
	return r.db.Close()
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and _", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// Migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction, and returns their numbers.
func (r *Registry) Migrate(ctx context.Context) (applied []int, err error) {
	ms, err := migrations(r.Engine())
	if err != nil {
		return nil, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// READ COMMITTED on PostgreSQL (nil options), not write's
	// SERIALIZABLE: each statement after the migration lock must see what
	// another collector committed while this one waited for it.
	err = r.inTxWith(ctx, nil, func(tx *sql.Tx) error {
		if err := r.dia.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := r.inTxWith(ctx, nil, func(tx *sql.Tx) error {
			if err := r.dia.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return errSkip
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if err := afterMigration(ctx, tx, m.version); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, fmtTime(time.Now()))
			return err
		})
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return applied, fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

var errSkip = errors.New("skip")

// Ready reports whether the database answers and every migration is applied.
func (r *Registry) Ready(ctx context.Context) error {
	ms, err := migrations(r.Engine())
	if err != nil {
		return err
	}
	var latest sql.NullInt64
	if err := r.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if want := ms[len(ms)-1].version; !latest.Valid || int(latest.Int64) < want {
		return fmt.Errorf("check migrations: schema at %d, want %d", latest.Int64, want)
	}
	return nil
}

// inTx runs fn in a write transaction (SQLite: BEGIN IMMEDIATE through
// the DSN's _txlock; PostgreSQL: READ COMMITTED), committing when fn
// returns nil. The caller holds writeMu or calls Write.
func (r *Registry) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return r.inTxWith(ctx, r.dia.txOptions(), fn)
}

func (r *Registry) inTxWith(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	r.ckpt.committed()
	return nil
}

// Tx is a write transaction of the registry: the database transaction,
// and the functions to run once it has committed.
type Tx struct {
	*sql.Tx
	after []func()
	// dict is the registry's dictionary of compliance reasons, and given
	// the ids this transaction gave reasons it lacked (reasons.go).
	dict  *reasonDict
	given map[string]int64
	// epoch is compliance_reasons_epoch as this transaction read it,
	// when epochRead (Tx.syncReasons).
	epoch     int64
	epochRead bool
}

// Stmt is a statement a use case runs many times in one transaction
// (Tx.PrepareContext). It holds the query text only.
type Stmt struct {
	tx    *sql.Tx
	query string
}

// PrepareContext shadows sql.Tx's: it prepares nothing. Both drivers keep
// prepared statements per connection, keyed by their text (SQLite's
// _stmt_cache_size, set in Open; pgx's statement cache), so a statement
// run through the transaction is compiled once per connection, where
// sql.Tx.PrepareContext compiles it again in every transaction and, on
// PostgreSQL, costs a round trip to prepare and one to close. That was
// ~8 % of the collector's CPU applying small deltas, which prepare a
// handful of statements each to run them once or twice. The error is
// always nil; it is there so callers read as they would with database/sql.
func (tx *Tx) PrepareContext(_ context.Context, query string) (*Stmt, error) {
	return &Stmt{tx: tx.Tx, query: query}, nil
}

// ExecContext runs the statement with args.
func (s *Stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.tx.ExecContext(ctx, s.query, args...)
}

// QueryContext runs the statement with args for its rows.
func (s *Stmt) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return s.tx.QueryContext(ctx, s.query, args...)
}

// QueryRowContext runs the statement with args for one row.
func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return s.tx.QueryRowContext(ctx, s.query, args...)
}

// Close does nothing: the driver's cache owns the prepared statement.
func (s *Stmt) Close() error { return nil }

// AfterCommit registers fn to run after the transaction commits: once,
// after Write has released the write lock, in the order registered. A
// function registered by an attempt that does not commit (fn returned an
// error, the commit failed, or a conflict made Write run fn again) never
// runs; the attempt that commits registers its own. It is how a use case
// announces what it wrote (wake the webhook worker, fill a cache) without
// anyone seeing rows that might still roll back.
func (tx *Tx) AfterCommit(fn func()) {
	if fn != nil {
		tx.after = append(tx.after, fn)
	}
}

// Write runs fn in a write transaction, one writer at a time in this
// process, and then the functions fn registered with Tx.AfterCommit. One
// use case is one Write. On PostgreSQL a conflict with another collector's
// transaction (store.go: retryable) runs fn again in a new transaction, a
// bounded number of times, so fn must have no effect outside tx except
// assigning results it recomputes on every run; effects that must follow
// the commit go in AfterCommit.
func (r *Registry) Write(ctx context.Context, fn func(tx *Tx) error) error {
	var after []func()
	err := func() error {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
		for attempt := 1; ; attempt++ {
			after = nil
			err := r.inTx(ctx, func(stx *sql.Tx) error {
				if err := r.dia.lockWrites(ctx, stx); err != nil {
					return err
				}
				tx := &Tx{Tx: stx, dict: &r.reasons}
				if err := fn(tx); err != nil {
					return err
				}
				after = tx.after
				return nil
			})
			if err == nil {
				return nil
			}
			after = nil // not committed: nothing it registered runs
			if attempt == writeAttempts || !retryable(err) {
				return err
			}
			r.logger.Debug("write conflicts with another transaction; retrying", "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
				return err
			case <-time.After(backoff(attempt)):
			}
		}
	}()
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// write is Write for a function that registers nothing to run after the
// commit.
func (r *Registry) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return r.Write(ctx, func(tx *Tx) error { return fn(tx.Tx) })
}

// timeLayout has a fixed-width fraction so stored text sorts as time.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func timePtr(ns sql.NullString) *time.Time {
	if !ns.Valid {
		return nil
	}
	t := parseTime(ns.String)
	return &t
}
