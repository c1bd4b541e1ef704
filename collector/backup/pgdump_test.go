package backup_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/backup"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/collector/store/pgtest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestVerifyPGDump dumps a real PostgreSQL registry with pg_dump and checks
// the dump: plain, age-encrypted, with an edited audit entry, and without
// a key to verify with. Every scratch database is dropped afterwards.
func TestVerifyPGDump(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE roster`); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Engine: registry.EnginePostgres, DSN: srv.DSN("roster")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	pkiDir := filepath.Join(t.TempDir(), "pki")
	ca, _, err := pki.LoadOrCreate(pkiDir, []string{"localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "store.key")
	id, err := pki.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pki.ExportBundle(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := bundle.Seal(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.PublishSharedKeys(ctx, registry.SharedKeys{CAFingerprint: ca.Fingerprint(), Sealed: sealed, CreatedBy: "test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fill(t, reg, ca, []*wire.Snapshot{registrytest.Rich(t)}, 2)

	dump := func(name string) string {
		t.Helper()
		f := filepath.Join(t.TempDir(), name)
		if out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--format=custom", "--file", f, srv.DSN("roster")).CombinedOutput(); err != nil {
			t.Fatalf("pg_dump: %v %s", err, out)
		}
		return f
	}
	plain := dump("roster.dump")
	encrypted := plain + ".age"
	backupID, backupKeyFile := identity(t)
	encrypt(t, plain, encrypted, backupID.Recipient())
	backupKeys, err := backup.LoadIdentities(backupKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := sql.Open("pgx", srv.DSN("roster"))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, err := rdb.ExecContext(ctx, `UPDATE audit_log SET target = 'edited' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	edited := dump("edited.dump")

	pgRestore := filepath.Join(bin, "pg_restore")
	for _, tc := range []struct {
		name, file string
		opt        backup.PGOptions
		want       string
	}{
		{"plain", plain, backup.PGOptions{KeyFile: keyFile}, ""},
		{"encrypted", encrypted, backup.PGOptions{KeyFile: keyFile, Keys: &backupKeys}, ""},
		{"public key", plain, backup.PGOptions{PublicKey: ca.Command.Public}, ""},
		{"encrypted without identity", encrypted, backup.PGOptions{KeyFile: keyFile}, "decrypt: "},
		{"audit entry edited", edited, backup.PGOptions{KeyFile: keyFile}, "audit: audit log does not verify: first bad entry 2"},
		{"no key", plain, backup.PGOptions{}, "keys: no command-signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.ScratchDSN, tc.opt.PGRestore = srv.DSN("postgres"), pgRestore
			rep := backup.VerifyPGDump(ctx, tc.file, tc.opt)
			if tc.want == "" {
				if !rep.OK || rep.Tables["devices"] != 2 || rep.Audit == nil || rep.CommandKey != ca.Command.PublicBase64() {
					t.Errorf("dump does not verify: %s (devices %d)", rep.Problem, rep.Tables["devices"])
				}
			} else if rep.OK || !strings.HasPrefix(rep.Problem, tc.want) {
				t.Errorf("problem %q, want it to start %q", rep.Problem, tc.want)
			}
			var left int
			if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'roster_verify_%'`).Scan(&left); err != nil || left != 0 {
				t.Errorf("%d scratch databases left (%v)", left, err)
			}
		})
	}
}

func encrypt(t *testing.T, src, dst string, to age.Recipient) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := age.Encrypt(f, to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
