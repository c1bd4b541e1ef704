package main

// In-process tests of backup, verify-backup and restore, and of the
// scheduled backups' rotation; the restore drill with real processes is
// backup_e2e_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/backup"
	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
)

// backupFixture is a data directory made as serve makes one, and an age
// identity file with its recipient.
type backupFixture struct {
	dir, keyFile, recipient string
	ca                      *pki.CA
}

func newBackupFixture(t *testing.T) backupFixture {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := prepareDataDir(dir); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.OpenAndMigrate(ctx, storeOf(config.Store{}, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, pkiDir), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.CreateSecret(localActor(ctx, "test"), "fixture", 0, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Checkpoint(ctx, ca.Command.KeyID(), ca.Command.Sign, time.Now()); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return backupFixture{dir: dir, keyFile: keyFile, recipient: id.Recipient().String(), ca: ca}
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func auditActions(t *testing.T, dbPath string) []string {
	t.Helper()
	reg, err := registry.Open(context.Background(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	es, _, err := reg.ListAudit(context.Background(), registry.AuditFilter{Action: "backup.*"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+":"+e.Outcome)
	}
	return out
}

func TestBackupVerifyRestore(t *testing.T) {
	f := newBackupFixture(t)
	out := filepath.Join(t.TempDir(), "roster.age")
	code, stdout, stderr := runCmd(t, "backup", "--data", f.dir, "--out", out, "--recipient", f.recipient)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote "+out) {
		t.Errorf("backup printed %q", stdout)
	}
	if got := auditActions(t, filepath.Join(f.dir, dbFile)); len(got) != 1 || got[0] != "backup.created:ok" {
		t.Errorf("audit after backup: %v, want backup.created:ok", got)
	}

	code, stdout, stderr = runCmd(t, "verify-backup", out, "--identity", f.keyFile, "--public-key", f.ca.Command.PublicBase64(), "--json")
	if code != 0 {
		t.Fatalf("verify-backup: exit %d\n%s%s", code, stdout, stderr)
	}
	var rep backup.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || !rep.OK || len(rep.Checks) != 7 || rep.By == "" {
		t.Errorf("verify-backup --json: %v, report %+v", err, rep)
	}
	code, stdout, _ = runCmd(t, "verify-backup", "--identity", f.keyFile, out)
	if code != 0 || !strings.Contains(stdout, "RESULT: PASSED") || !strings.Contains(stdout, "audit ") {
		t.Errorf("verify-backup text: exit %d\n%s", code, stdout)
	}

	// Another collector's key given as the expected one fails.
	other, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, "verify-backup", out, "--identity", f.keyFile, "--public-key", other.Command.PublicBase64())
	if code != 1 || !strings.Contains(stderr, "keys: the backup's command-signing key") {
		t.Errorf("verify-backup with another --public-key: exit %d, stderr %q", code, stderr)
	}

	target := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr = runCmd(t, "restore", out, "--identity", f.keyFile, "--data", target)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := auditActions(t, filepath.Join(target, dbFile)); len(got) != 1 || got[0] != "backup.restored:ok" {
		// backup.created is written after the copy was taken.
		t.Errorf("audit of the restored database: %v, want backup.restored", got)
	}
	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("restored data directory: %v %v, want mode 0700", err, st.Mode().Perm())
	}
	code, _, stderr = runCmd(t, "restore", out, "--identity", f.keyFile, "--data", target)
	if code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("restore over a database: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr = runCmd(t, "restore", out, "--identity", f.keyFile, "--data", target, "--force")
	if code != 0 || !strings.Contains(stdout, "moved aside: "+filepath.Join(target, dbFile+".before-restore-")) {
		t.Errorf("restore --force: exit %d\n%s%s", code, stdout, stderr)
	}
	entries, _ := os.ReadDir(target)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("restore left %s in the data directory", e.Name())
		}
	}
}

func TestBackupFailures(t *testing.T) {
	f := newBackupFixture(t)
	out := filepath.Join(t.TempDir(), "roster.age")
	if code, stdout, stderr := runCmd(t, "backup", "--data", f.dir, "--out", out, "--recipient", f.recipient); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x80
	tampered := filepath.Join(t.TempDir(), "tampered.age")
	if err := os.WriteFile(tampered, b, 0o600); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(t.TempDir(), "other.key")
	id, _ := age.GenerateX25519Identity()
	if err := os.WriteFile(otherKey, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pgConfig := filepath.Join(t.TempDir(), "pg.yaml")
	if err := os.WriteFile(pgConfig, []byte("data_dir: "+f.dir+"\nstore:\n  engine: postgres\n  dsn: postgres://x@127.0.0.1/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"tampered", []string{"verify-backup", tampered, "--identity", f.keyFile}, 1, "decrypt " + tampered + ": the encrypted data does not authenticate"},
		{"wrong identity", []string{"verify-backup", out, "--identity", otherKey}, 1, out + " is not encrypted to any identity in " + otherKey},
		{"no identity", []string{"verify-backup", out}, 2, "--identity KEYFILE is required"},
		{"no recipient", []string{"backup", "--data", f.dir, "--out", out}, 2, "no age recipient"},
		{"bad recipient", []string{"backup", "--data", f.dir, "--out", out, "--recipient", "age1nope"}, 2, `recipient "age1nope"`},
		{"postgres", []string{"backup", "--config", pgConfig, "--out", out}, 1, "docs/backup.md"},
		{"pg-dump without scratch", []string{"verify-backup", "--pg-dump", out, "--key-file", f.keyFile}, 2, "--scratch-dsn DSN"},
		{"restore tampered", []string{"restore", tampered, "--identity", f.keyFile, "--data", filepath.Join(t.TempDir(), "r")}, 1, "does not authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	if got := auditActions(t, filepath.Join(f.dir, dbFile)); len(got) != 1 {
		t.Errorf("audit: %v, want the one backup", got)
	}
}

// TestScheduledBackups runs the schedule with a short interval: backups
// accumulate up to keep, each recorded in the audit log, nothing
// unencrypted left in the data directory.
func TestScheduledBackups(t *testing.T) {
	f := newBackupFixture(t)
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(f.dir, dbFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	recipients, err := backup.ParseRecipients([]string{f.recipient}, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, "backups")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := backupSchedule{dataDir: f.dir, dir: dir, keep: 2, every: 1100 * time.Millisecond, recipients: recipients, reg: reg, logger: slog.New(slog.DiscardHandler)}
	leases := newJobLeases(reg, metrics.New(), slog.New(slog.DiscardHandler))
	stop := s.start(ctx, leases)
	deadline := time.Now().Add(20 * time.Second)
	for len(auditActions(t, filepath.Join(f.dir, dbFile))) < 4 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if got := auditActions(t, filepath.Join(f.dir, dbFile)); len(got) < 4 || got[0] != "backup.created:ok" {
		t.Fatalf("audit: %v, want at least 4 backup.created", got)
	}
	names, _, err := backup.List(dir)
	if err != nil || len(names) != 2 {
		t.Errorf("backups kept: %v %v, want keep = 2", names, err)
	}
	for _, n := range names {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v", n, err, st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("the data directory holds %s", e.Name())
		}
	}
}
