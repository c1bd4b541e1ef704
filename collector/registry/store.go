package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the shared store
	"github.com/mattn/go-sqlite3"
)

// The registry runs on two engines through database/sql: SQLite (the
// embedded default, one collector) and PostgreSQL (several collectors
// sharing one database). The SQL is written once; where the engines
// differ, a dialect method gives the engine's spelling.

// Engines StoreConfig.Engine names.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// StoreConfig says which database the registry lives in.
type StoreConfig struct {
	// Engine is EngineSQLite (the default when empty) or EnginePostgres.
	Engine string
	// Path is the SQLite database file.
	Path string
	// DSN is the PostgreSQL connection string (postgres://… or
	// key=value), passed to pgx.
	DSN string
}

// String names the store for logs and errors without the DSN's password.
func (c StoreConfig) String() string {
	if c.Engine != EnginePostgres {
		return "sqlite:" + c.Path
	}
	if cfg, err := pgconn.ParseConfig(c.DSN); err == nil {
		return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	}
	return "postgres"
}

// OpenStore opens the registry in the store cfg names and applies pending
// migrations (Open is OpenStore for a SQLite file).
func OpenStore(ctx context.Context, cfg StoreConfig, logger *slog.Logger) (*Registry, error) {
	switch cfg.Engine {
	case "", EngineSQLite:
		return Open(ctx, cfg.Path, logger)
	case EnginePostgres:
		return openPostgres(ctx, cfg, logger)
	}
	return nil, fmt.Errorf("open registry: unknown store engine %q (sqlite or postgres)", cfg.Engine)
}

func openPostgres(ctx context.Context, cfg StoreConfig, logger *slog.Logger) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DSN == "" {
		return nil, errors.New("open registry: postgres needs a dsn")
	}
	db, err := sql.Open("pgx", cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", cfg, err)
	}
	// Each collector keeps a few connections; the server's
	// max_connections is shared by every collector.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry %s: %w", cfg, err)
	}
	return newRegistry(db, logger, dialect{engine: EnginePostgres}), nil
}

// OpenAndMigrate opens the store and applies its pending migrations,
// logging their numbers: what serve does at start and what tests use.
func OpenAndMigrate(ctx context.Context, cfg StoreConfig, logger *slog.Logger) (*Registry, error) {
	r, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	applied, err := r.Migrate(ctx)
	if err != nil {
		r.Close()
		return nil, err
	}
	if len(applied) > 0 {
		r.logger.Info("registry migrated", "store", cfg.String(), "applied", applied)
	}
	return r, nil
}

// dialect is where the engines' SQL differs. The zero value is SQLite.
type dialect struct{ engine string }

func (d dialect) postgres() bool { return d.engine == EnginePostgres }

// rowid is the expression for the rowid of alias's row on SQLite, where
// an UPDATE by rowid spares the lookup in the table's key index (the
// fleet evaluation's results updates: updateResults); 0 on PostgreSQL,
// whose rows are found by their key.
func (d dialect) rowid(alias string) string {
	if d.postgres() {
		return "0"
	}
	return alias + ".rowid"
}

// newDeviceNum is the value of devices.num in an INSERT of a new device.
// On SQLite it is the next number, given in the INSERT so that the
// devices_num trigger (migration 0019), which would set it with an UPDATE
// afterwards, does not fire: updating a parent key makes SQLite look for
// child rows of the old key, and device_software has no index by device
// since 0021, so every enrolment scanned every device's packages (68 ms at
// 2,500 devices; BenchmarkNewDevice). PostgreSQL's identity column numbers
// the row itself.
func (d dialect) newDeviceNum() string {
	if d.postgres() {
		return "DEFAULT"
	}
	return "(SELECT coalesce(max(num), 0) + 1 FROM devices)"
}

// Engine is the store's engine (EngineSQLite or EnginePostgres).
func (r *Registry) Engine() string {
	if r.dia.postgres() {
		return EnginePostgres
	}
	return EngineSQLite
}

// glob is a case-sensitive match of column against a glob pattern ('*',
// '?', '[...]' classes) bound to placeholder ph ("?" or "$N"), and the
// value to bind there: SQLite's GLOB as is, PostgreSQL's regular
// expression match over the translated pattern.
func (d dialect) glob(column, ph, pattern string) (string, any) {
	if d.postgres() {
		return column + " ~ " + ph, globRegexp(pattern)
	}
	return column + " GLOB " + ph, pattern
}

// globRegexp turns a glob into an anchored regular expression that
// PostgreSQL and Go read alike: '*' any run, '?' one character, a
// bracketed class kept as written ('^' negating it, as in GLOB), every
// other character literal.
func globRegexp(glob string) string {
	var b strings.Builder
	b.WriteByte('^')
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteByte('.')
		case '[':
			if j := strings.IndexByte(glob[i+1:], ']'); j > 0 {
				b.WriteString(glob[i : i+j+2])
				i += j + 1
				continue
			}
			b.WriteString(`\[`)
		default:
			if strings.IndexByte(`\.+()|{}^$]`, c) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('$')
	return b.String()
}

// jsonArray is a FROM item expanding the JSON array in the text column
// into rows alias whose alias.value is one element (read with ->>).
func (d dialect) jsonArray(column, alias string) string {
	if d.postgres() {
		return "jsonb_array_elements(" + column + "::jsonb) AS " + alias + "(value)"
	}
	return "json_each(" + column + ") " + alias
}

// Write transactions on PostgreSQL take one store-wide advisory lock first
// and then run READ COMMITTED: one writer at a time across every collector
// sharing the database, as BEGIN IMMEDIATE gives on SQLite. The registry's
// use cases read then write (the audit chain's head, a device's rev, a
// secret's uses), and the audit log is one chain every change appends to,
// so writers are serial by nature; running them SERIALIZABLE side by side
// instead made two collectors taking reports at once fail after every
// retry with serialization failures (scripts/bench-store.sh found it).
// The lock is taken by the transaction's first statement and each later
// statement sees what the previous writer committed. A deadlock or
// serialization failure (from a reader's explicit locks, or an operator's
// own session) still runs the whole function again, which is safe because
// every function passed to write only assigns results it recomputes from
// the transaction.
const (
	writeAttempts = 8
	retryBase     = 5 * time.Millisecond
)

// retryable reports whether err is a conflict with a concurrent
// transaction that running the transaction again resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation: only the audit chain's seq race
		return pe.ConstraintName == "audit_log_pkey"
	}
	return false
}

// statementUndone says whether err, a one-statement job's error on
// SQLite, leaves the transaction as it was before the job: the statement
// found no row (sql.ErrNoRows), or broke a constraint, which SQLite undoes
// for the statement alone (ON CONFLICT ABORT). Other errors, such as a full
// disk or an I/O error, can roll back the whole transaction.
func statementUndone(err error) bool {
	if errors.Is(err, sql.ErrNoRows) {
		return true
	}
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// backoff is how long to wait before attempt (1-based) runs again:
// exponential with jitter so that two collectors do not collide again.
func backoff(attempt int) time.Duration {
	d := retryBase << min(attempt, 6)
	return d/2 + rand.N(d/2+1)
}

// txOptions are the options of a write transaction.
func (d dialect) txOptions() *sql.TxOptions {
	if d.postgres() {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil // BEGIN IMMEDIATE through the DSN's _txlock
}

// writeLock is the PostgreSQL advisory lock key every write transaction
// holds (see writeAttempts).
const writeLock = 0x526f737465720002 // "Roster" + 2

// lockWrites makes tx the only writer in the store until it ends.
func (d dialect) lockWrites(ctx context.Context, tx *sql.Tx) error {
	if !d.postgres() {
		return nil // BEGIN IMMEDIATE already excludes other writers
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writeLock)); err != nil {
		return fmt.Errorf("take the store's write lock: %w", err)
	}
	return nil
}

// migrateLock is the PostgreSQL advisory lock key Migrate holds.
const migrateLock = 0x526f737465720001 // "Roster" + 1

// lockMigrations serialises Migrate between processes: two collectors
// starting together on one PostgreSQL database would otherwise both create
// schema_migrations or apply a migration. The lock is transaction-scoped,
// and Migrate's transactions are READ COMMITTED so that the statements
// after it see what the other collector committed meanwhile.
func (d dialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if !d.postgres() {
		return nil // BEGIN IMMEDIATE already excludes other writers
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock))
	return err
}
