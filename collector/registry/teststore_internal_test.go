package registry

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// The package's tests run on either engine: SQLite files (the default)
// or, with ROSTER_TEST_STORE=postgres, one throwaway PostgreSQL server
// for the whole test binary and a fresh database per test.

// testPG is the binary's PostgreSQL server, started by the first test
// that asks for a store and stopped by TestMain.
var testPG pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testPG.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// StoreUnderTest is the engine ROSTER_TEST_STORE selects.
func StoreUnderTest() string {
	if os.Getenv("ROSTER_TEST_STORE") == EnginePostgres {
		return EnginePostgres
	}
	return EngineSQLite
}

// NewTestStore returns a new empty store for t on the engine under test: a
// SQLite file in a temporary directory, or a PostgreSQL database t_<n>.
func NewTestStore(t testing.TB) StoreConfig {
	t.Helper()
	if StoreUnderTest() != EnginePostgres {
		return StoreConfig{Engine: EngineSQLite, Path: filepath.Join(t.TempDir(), "roster.db")}
	}
	return StoreConfig{Engine: EnginePostgres, DSN: testPG.Database(t)}
}

// OpenTestStore opens cfg (migrating it) and closes it when t ends.
func OpenTestStore(t testing.TB, cfg StoreConfig) *Registry {
	t.Helper()
	r, err := OpenAndMigrate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// RawDB opens cfg's database directly, for a test that reads or edits
// rows the API would not (tampering with the audit log).
func RawDB(t testing.TB, cfg StoreConfig) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if cfg.Engine == EnginePostgres {
		db, err = sql.Open("pgx", cfg.DSN)
	} else {
		db, err = sql.Open("sqlite3", "file:"+cfg.Path+"?_busy_timeout=5000")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMigrationVersionsMatch: each engine has a migration for every
// version the other has, so a schema version means the same tables on
// both.
func TestMigrationVersionsMatch(t *testing.T) {
	t.Parallel()
	versions := func(engine string) []int {
		ms, err := migrations(engine)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, m := range ms {
			out = append(out, m.version)
		}
		return out
	}
	lite, pg := versions(EngineSQLite), versions(EnginePostgres)
	if !slices.Equal(lite, pg) {
		t.Errorf("migration versions differ: sqlite %v, postgres %v", lite, pg)
	}
	if len(lite) == 0 {
		t.Error("no migrations")
	}
}
