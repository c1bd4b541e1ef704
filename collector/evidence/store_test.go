package evidence_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// The bundle's tests run on the engine ROSTER_TEST_STORE names (sqlite by
// default, or postgres: one throwaway server for the binary, a database
// per test), as the registry's and the API's do.
var testPG pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testPG.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// openRegistry is a new, migrated registry on the engine under test,
// closed when t ends, and its store's configuration.
func openRegistry(t *testing.T) (*registry.Registry, registry.StoreConfig) {
	t.Helper()
	cfg := registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(t.TempDir(), "roster.db")}
	if os.Getenv("ROSTER_TEST_STORE") == registry.EnginePostgres {
		cfg = registry.StoreConfig{Engine: registry.EnginePostgres, DSN: testPG.Database(t)}
	}
	reg, err := registry.OpenAndMigrate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg, cfg
}

// rawDB opens the store's database directly, to write audit entries as
// another collector would.
func rawDB(t *testing.T, cfg registry.StoreConfig) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite3", "file:"+cfg.Path+"?_busy_timeout=5000"
	if cfg.Engine == registry.EnginePostgres {
		driver, dsn = "pgx", cfg.DSN
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
