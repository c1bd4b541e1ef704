package api_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// The API's tests run on the engine ROSTER_TEST_STORE names (sqlite by
// default, or postgres: one throwaway server for the binary, a database
// per test), as the registry's do.
var testPG pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testPG.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// testStore is a new empty store for t in dir (SQLite) or on the shared
// PostgreSQL server.
func testStore(t *testing.T, dir string) registry.StoreConfig {
	t.Helper()
	if os.Getenv("ROSTER_TEST_STORE") == registry.EnginePostgres {
		return registry.StoreConfig{Engine: registry.EnginePostgres, DSN: testPG.Database(t)}
	}
	return registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dir, "roster.db")}
}

// rawDB opens the store's database directly, for counting rows.
func rawDB(t *testing.T, s registry.StoreConfig) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite3", "file:"+s.Path+"?mode=ro"
	if s.Engine == registry.EnginePostgres {
		driver, dsn = "pgx", s.DSN
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
