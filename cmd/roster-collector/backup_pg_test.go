package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// TestVerifyPGDumpCommand checks a real pg_dump of a shared store through
// the command line: its keys unsealed with the store's key file, as
// loadCA published them.
func TestVerifyPGDumpCommand(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	admin, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE roster`); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if code, out, errOut := runCmd(t, "keyfile", "create", keyFile); code != 0 {
		t.Fatalf("keyfile create: %d %s %s", code, out, errOut)
	}
	sc := storeOf(config.Store{Engine: config.StorePostgres, DSN: srv.DSN("roster")}, "")
	reg, err := registry.OpenAndMigrate(ctx, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := loadCA(ctx, reg, filepath.Join(t.TempDir(), pkiDir), keyFile, []string{"localhost"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, time.Now()); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(t.TempDir(), "roster.dump")
	if out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--format=custom", "--file", dump, srv.DSN("roster")).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v %s", err, out)
	}
	code, out, errOut := runCmd(t, "verify-backup", "--pg-dump", dump, "--scratch-dsn", srv.DSN("postgres"), "--key-file", keyFile, "--public-key", ca.Command.PublicBase64())
	if code != 0 || !strings.Contains(out, "RESULT: PASSED") || !strings.Contains(out, "restore ") {
		t.Errorf("verify-backup --pg-dump: exit %d\n%s%s", code, out, errOut)
	}
}
