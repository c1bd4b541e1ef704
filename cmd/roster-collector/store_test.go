package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rosterhq/roster/collector/store/pgtest"
)

// TestMigrateAndTokenOnPostgres: migrate and token create use the store
// of the --config file, here a real PostgreSQL database.
func TestMigrateAndTokenOnPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	yaml := fmt.Sprintf("data_dir: %s\nstore:\n  engine: postgres\n  dsn: %s\n", dir, pg.DSN("postgres"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runInProcess(t, "migrate", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`^(applied migration \d+\n)+$`).MatchString(stdout) {
		t.Fatalf("first migrate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if stdout, _, code = runInProcess(t, "migrate", "--config", cfg); code != 0 || stdout != "database is up to date\n" {
		t.Errorf("second migrate: exit %d, stdout %q", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
		t.Errorf("migrate on postgres made %s", filepath.Join(dir, dbFile))
	}
	stdout, stderr, code = runInProcess(t, "token", "create", "--config", cfg, "--name", "ci", "--role", "automation", "--kind", "automation")
	if code != 0 || strings.TrimSpace(stdout) == "" {
		t.Errorf("token create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("data_dir: "+dir+"\nstore:\n  engine: postgres\n"), 0o600)
	if _, stderr, code := runInProcess(t, "migrate", "--config", bad); code != 2 || !strings.Contains(stderr, "store.dsn is required") {
		t.Errorf("postgres without dsn: exit %d, stderr %q", code, stderr)
	}
}
