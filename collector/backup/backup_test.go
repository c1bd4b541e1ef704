package backup_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rosterhq/roster/collector/backup"
	"github.com/rosterhq/roster/collector/registry"
)

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func create(t testing.TB, d dataDir, out string, to ...age.Recipient) backup.Result {
	t.Helper()
	res, err := backup.Create(context.Background(), backup.Options{DataDir: d.dir, Out: out, Recipients: to, CollectorVersion: "test", Now: t0})
	if err != nil {
		t.Fatalf("create backup: %v", err)
	}
	return res
}

// leftovers lists what a backup or a check left in dir besides want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestBackupVerifies(t *testing.T) {
	d := newDataDir(t, 3)
	id, keyFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	res := create(t, d, out, id.Recipient())

	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("backup mode %04o, want 0600", m)
	}
	if st.Size() != res.Size {
		t.Errorf("result size %d, file %d", res.Size, st.Size())
	}
	if left := leftovers(t, d.dir, "roster.db", "roster.db-wal", "roster.db-shm", "pki"); len(left) > 0 {
		t.Errorf("data directory holds %v after the backup: the unencrypted copy must be removed", left)
	}
	if left := leftovers(t, filepath.Dir(out), "b.age"); len(left) > 0 {
		t.Errorf("output directory holds %v besides the backup", left)
	}
	m := res.Manifest
	if m.Tables["devices"] != 3 || m.Audit.HeadSeq == 0 || m.Audit.Checkpoint == nil || m.SchemaVersion == 0 {
		t.Errorf("manifest: devices %d, audit head %d, checkpoint %v, schema %d", m.Tables["devices"], m.Audit.HeadSeq, m.Audit.Checkpoint, m.SchemaVersion)
	}
	var names []string
	for _, mem := range m.Members {
		names = append(names, mem.Name)
	}
	for _, want := range []string{"roster.db", "pki/ca.crt", "pki/ca.key", "pki/command.key"} {
		if !slices.Contains(names, want) {
			t.Errorf("members %v lack %s", names, want)
		}
	}

	keys, err := backup.LoadIdentities(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	x, rep := backup.Verify(context.Background(), out, keys, backup.CheckOptions{Parent: parent, PublicKey: d.ca.Command.Public})
	if !rep.OK || x == nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Fatalf("backup does not verify:\n%s", b)
	}
	var checks []string
	for _, c := range rep.Checks {
		checks = append(checks, c.Name)
	}
	if want := []string{"decrypt", "members", "keys", "integrity", "counts", "migrations", "audit"}; !slices.Equal(checks, want) {
		t.Errorf("checks %v, want %v", checks, want)
	}
	if rep.Tables["devices"] != 3 || rep.Audit == nil || rep.Audit.HeadSeq != m.Audit.HeadSeq || rep.CAFingerprint != d.ca.Fingerprint() {
		t.Errorf("report: devices %d, audit %+v, CA %s", rep.Tables["devices"], rep.Audit, rep.CAFingerprint)
	}
	st, err = os.Stat(x.Dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("extracted directory: %v, mode %v, want 0700", err, st.Mode().Perm())
	}
	if err := x.Remove(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, parent); len(left) > 0 {
		t.Errorf("%v left behind after Remove", left)
	}
}

func TestWrongIdentity(t *testing.T) {
	d := newDataDir(t, 1)
	id, _ := identity(t)
	_, otherFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	create(t, d, out, id.Recipient())
	keys, err := backup.LoadIdentities(otherFile)
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	x, rep := backup.Verify(context.Background(), out, keys, backup.CheckOptions{Parent: parent})
	if x != nil || rep.OK {
		t.Fatal("a backup opened with another identity verified")
	}
	want := "decrypt: " + out + " is not encrypted to any identity in " + otherFile
	if rep.Problem != want {
		t.Errorf("problem %q, want %q", rep.Problem, want)
	}
	if left := leftovers(t, parent); len(left) > 0 {
		t.Errorf("%v left behind", left)
	}
}

// TestTampered changes one byte of the encrypted file at several places:
// the header, the payload's first chunk and its last; each must fail and
// say the data does not authenticate, leaving nothing decrypted behind.
func TestTampered(t *testing.T) {
	d := newDataDir(t, 2)
	id, keyFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	create(t, d, out, id.Recipient())
	orig, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := backup.LoadIdentities(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := strings.Index(string(orig), "\n---") + 50 // inside the header's MAC line
	for name, at := range map[string]int{"header": 20, "header MAC": hdrEnd, "first chunk": hdrEnd + 200, "last byte": len(orig) - 1} {
		t.Run(name, func(t *testing.T) {
			b := slices.Clone(orig)
			b[at] ^= 0x01
			f := filepath.Join(t.TempDir(), "tampered.age")
			writeFile(t, f, string(b))
			parent := t.TempDir()
			x, rep := backup.Verify(context.Background(), f, keys, backup.CheckOptions{Parent: parent})
			if x != nil || rep.OK {
				t.Fatalf("a backup with byte %d flipped verified", at)
			}
			if !strings.HasPrefix(rep.Problem, "decrypt: ") {
				t.Errorf("problem %q, want a decrypt failure", rep.Problem)
			}
			if left := leftovers(t, parent); len(left) > 0 {
				t.Errorf("%v left behind", left)
			}
		})
	}
}

// TestRotate keeps the newest keep scheduled backups and leaves other
// files alone.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, filepath.Join(dir, backup.Name(t0.Add(time.Duration(i)*time.Hour))), "x")
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), "mine")
	removed, err := backup.Rotate(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 || removed[0] != backup.Name(t0) {
		t.Errorf("removed %v, want the 3 oldest", removed)
	}
	names, times, err := backup.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{backup.Name(t0.Add(3 * time.Hour)), backup.Name(t0.Add(4 * time.Hour))}; !slices.Equal(names, want) || !times[1].Equal(t0.Add(4*time.Hour)) {
		t.Errorf("kept %v %v, want %v", names, times, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("rotate touched another file: %v", err)
	}
}

func TestInstall(t *testing.T) {
	d := newDataDir(t, 1)
	id, keyFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	create(t, d, out, id.Recipient())
	keys, _ := backup.LoadIdentities(keyFile)
	target := t.TempDir()
	verify := func() *backup.Extracted {
		x, rep := backup.Verify(context.Background(), out, keys, backup.CheckOptions{Parent: target})
		if !rep.OK {
			t.Fatalf("verify: %s", rep.Problem)
		}
		return x
	}
	x := verify()
	if _, err := backup.Install(x, target, false, t0); err != nil {
		t.Fatal(err)
	}
	x.Remove()
	x = verify()
	defer x.Remove()
	if _, err := backup.Install(x, target, false, t0); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("install over a database: %v, want a refusal naming --force", err)
	}
	aside, err := backup.Install(x, target, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(target, "roster.db.before-restore-20261102T090000Z"); !slices.Contains(aside, want) {
		t.Errorf("moved aside %v, want %s among them", aside, want)
	}
	reg, err := registry.Open(context.Background(), filepath.Join(target, "roster.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Ready(context.Background()); err != nil {
		t.Errorf("restored database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "pki", "ca.key")); errors.Is(err, fs.ErrNotExist) {
		t.Error("no pki/ca.key after install")
	}
}

// repack decrypts a backup, lets change edit its members, and encrypts
// the result to the same recipient: a backup whose encryption is sound
// but whose content was altered by someone holding the identity.
func repack(t *testing.T, in, out string, id *age.X25519Identity, change func(name string, b []byte) []byte) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(dec)
	if err != nil {
		t.Fatal(err)
	}
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	enc, err := age.Encrypt(o, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	gw := gzip.NewWriter(enc)
	tw := tar.NewWriter(gw)
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		b = change(hdr.Name, b)
		hdr.Size = int64(len(b))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []io.Closer{tw, gw, enc} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMemberChanged alters a member inside a well-encrypted archive: the
// manifest's SHA-256 catches it, and a manifest forged to match is caught
// by the checks after it.
func TestMemberChanged(t *testing.T) {
	d := newDataDir(t, 2)
	id, keyFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	create(t, d, out, id.Recipient())
	keys, _ := backup.LoadIdentities(keyFile)
	flipLast := func(b []byte) []byte { b = slices.Clone(b); b[len(b)-100] ^= 0x01; return b }
	for _, tc := range []struct {
		name   string
		change func(name string, b []byte) []byte
		want   string
	}{
		{"database byte", func(n string, b []byte) []byte {
			if n == "roster.db" {
				return flipLast(b)
			}
			return b
		}, "members: member roster.db does not match the manifest"},
		{"CA certificate", func(n string, b []byte) []byte {
			if n == "pki/ca.crt" {
				return flipLast(b)
			}
			return b
		}, "members: member pki/ca.crt does not match the manifest"},
		{"extra member", func(n string, b []byte) []byte {
			if n == "manifest.json" {
				var m backup.Manifest
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				m.Members = slices.DeleteFunc(m.Members, func(mem backup.Member) bool { return mem.Name == "pki/server.key" })
				b, _ = json.Marshal(m)
			}
			return b
		}, "members: members not in the manifest: pki/server.key"},
		{"counts forged", func(n string, b []byte) []byte {
			if n == "manifest.json" {
				var m backup.Manifest
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				m.Tables["devices"] = 3
				b, _ = json.Marshal(m)
			}
			return b
		}, "counts: table devices has 2 rows, the manifest says 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "changed.age")
			repack(t, out, f, id, tc.change)
			x, rep := backup.Verify(context.Background(), f, keys, backup.CheckOptions{Parent: t.TempDir()})
			if x != nil || rep.OK {
				t.Fatal("an altered backup verified")
			}
			if !strings.HasPrefix(rep.Problem, tc.want) {
				t.Errorf("problem %q, want it to start %q", rep.Problem, tc.want)
			}
		})
	}
}

// TestOnline takes a backup while another connection keeps writing: the
// copy is one consistent state whose counts and audit head agree.
func TestOnline(t *testing.T) {
	d := newDataDir(t, 1)
	ctx := context.Background()
	reg, err := registry.Open(ctx, filepath.Join(d.dir, "roster.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if err := reg.AuditOutside(ctx, "test.write", "x", "ok", nil); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	id, keyFile := identity(t)
	out := filepath.Join(t.TempDir(), "b.age")
	res := create(t, d, out, id.Recipient())
	close(stop)
	if n := <-done; n == 0 {
		t.Log("no write happened during the backup")
	}
	keys, _ := backup.LoadIdentities(keyFile)
	x, rep := backup.Verify(ctx, out, keys, backup.CheckOptions{Parent: t.TempDir()})
	if !rep.OK {
		t.Fatalf("online backup does not verify: %s", rep.Problem)
	}
	x.Remove()
	if rep.Audit.HeadSeq != res.Manifest.Audit.HeadSeq {
		t.Errorf("verified head %d, manifest %d", rep.Audit.HeadSeq, res.Manifest.Audit.HeadSeq)
	}
}

// TestStaleCopyRemoved: a backup killed mid-way leaves its unencrypted
// copy; the next backup removes it once it is clearly not a running one's.
func TestStaleCopyRemoved(t *testing.T) {
	d := newDataDir(t, 1)
	stale := filepath.Join(d.dir, ".backup-123")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(stale, "roster.db"), "unencrypted")
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	id, _ := identity(t)
	if _, err := backup.Create(context.Background(), backup.Options{DataDir: d.dir, Out: filepath.Join(t.TempDir(), "b.age"), Recipients: []age.Recipient{id.Recipient()}, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale unencrypted copy %s still there: %v", stale, err)
	}
}
