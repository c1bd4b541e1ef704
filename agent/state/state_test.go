package state

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/shared/wire"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(path string) error
	}{
		{"created", func(string) error { return nil }},
		{"existing too open", func(p string) error { return os.Mkdir(p, 0o755) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state")
			if err := tt.prepare(path); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path); err != nil {
				t.Fatal(err)
			}
			if got := mode(t, path); got != 0o700 {
				t.Errorf("directory mode %o, want 700", got)
			}
		})
	}
}

func TestOpenRejectsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("opened a regular file as state directory")
	}
}

func TestSaveEnrolment(t *testing.T) {
	t.Parallel()
	d, err := Open(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Device(); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("fresh directory: err %v, want ErrNotEnrolled", err)
	}
	if err := d.SaveSpooled(Spooled{Seq: 1, Hash: "sha256:x", Snapshot: &wire.Snapshot{Platform: "linux"}}); err != nil {
		t.Fatal(err)
	}
	dev := Device{DeviceID: "d-1", Collector: "https://127.0.0.1:8443", EnrolledAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ReEnrolled: true}
	if err := d.SaveEnrolment(Enrolment{Device: dev, KeyPEM: []byte("key"), CertPEM: []byte("cert"), CAPEM: []byte("ca")}); err != nil {
		t.Fatal(err)
	}
	got, err := d.Device()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dev, got); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}
	key, cert, ca, err := d.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != "key" || string(cert) != "cert" || string(ca) != "ca" {
		t.Errorf("credentials %q %q %q, want key cert ca", key, cert, ca)
	}
	if a, _ := d.LoadSpooled(); a != nil {
		t.Errorf("enrolment kept the spooled snapshot %+v; the new collector record has none", a)
	}
	if runtime.GOOS != "windows" {
		for _, f := range []string{KeyFile, CertFile, CAFile, DeviceFile} {
			if got := mode(t, filepath.Join(d.Path(), f)); got != 0o600 {
				t.Errorf("%s mode %o, want 600", f, got)
			}
		}
	}
	// No temp files are left behind.
	entries, _ := os.ReadDir(d.Path())
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".next" || e.Name()[0] == '.' {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func TestSeqPersists(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	for want := uint64(1); want <= 3; want++ {
		// A new Open each time, as a new process would.
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("NextSeq = %d, want %d", got, want)
		}
	}
	d, _ := Open(path)
	if got, _ := d.Seq(); got != 3 {
		t.Errorf("Seq = %d, want 3", got)
	}
	if err := os.WriteFile(filepath.Join(path, SeqFile), []byte("seven"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.NextSeq(); err == nil {
		t.Error("corrupt seq file accepted; a reset counter would replay sequence numbers")
	}
}

// TestSwapRecovery: whatever point a renewal crashed at, key and
// certificate come from the same pair.
func TestSwapRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		files            map[string]string // written besides key.pem=old-key, cert.pem=old-cert
		wantKey, wantCrt string
	}{
		{"nothing pending", nil, "old-key", "old-cert"},
		{"crash after writing the new key only", map[string]string{KeyFile + pendingSuffix: "new-key"}, "old-key", "old-cert"},
		{"crash after both halves were written", map[string]string{KeyFile + pendingSuffix: "new-key", CertFile + pendingSuffix: "new-cert"}, "new-key", "new-cert"},
		{"crash after the key was renamed", map[string]string{KeyFile: "new-key", CertFile + pendingSuffix: "new-cert"}, "new-key", "new-cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Open(filepath.Join(t.TempDir(), "s"))
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{KeyFile: "old-key", CertFile: "old-cert", CAFile: "ca"}
			for k, v := range tt.files {
				files[k] = v
			}
			for name, content := range files {
				if err := d.WriteFile(name, []byte(content)); err != nil {
					t.Fatal(err)
				}
			}
			key, cert, _, err := d.Credentials()
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != tt.wantKey || string(cert) != tt.wantCrt {
				t.Errorf("got %s + %s, want %s + %s", key, cert, tt.wantKey, tt.wantCrt)
			}
			for _, f := range []string{KeyFile + pendingSuffix, CertFile + pendingSuffix} {
				if _, err := os.Stat(filepath.Join(d.Path(), f)); err == nil {
					t.Errorf("%s left behind", f)
				}
			}
		})
	}
}

func TestSwapCredentials(t *testing.T) {
	t.Parallel()
	d, err := Open(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{KeyFile: "old-key", CertFile: "old-cert", CAFile: "ca"} {
		if err := d.WriteFile(name, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SwapCredentials([]byte("new-key"), []byte("new-cert")); err != nil {
		t.Fatal(err)
	}
	key, cert, _, err := d.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != "new-key" || string(cert) != "new-cert" {
		t.Errorf("got %s + %s, want new-key + new-cert", key, cert)
	}
	if runtime.GOOS != "windows" {
		if got := mode(t, filepath.Join(d.Path(), KeyFile)); got != 0o600 {
			t.Errorf("key mode %o, want 600", got)
		}
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	d, err := Open(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	c := TransportChoice{Transport: "https", At: time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)}
	if err := d.RememberTransport(c); err != nil {
		t.Fatal(err)
	}
	if got, err := d.LastTransport(); err != nil || got != c {
		t.Errorf("LastTransport = %+v, %v; want %+v", got, err, c)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"linux":  "/var/lib/roster-agent",
		"darwin": "/Library/Application Support/Roster",
	}
	for goos, want := range tests {
		if got := DefaultDir(goos); got != want {
			t.Errorf("DefaultDir(%s) = %q, want %q", goos, got, want)
		}
	}
	if got := DefaultDir("windows"); filepath.Base(filepath.ToSlash(got)) == "" || got[len(got)-len(`\Roster`):] != `\Roster` {
		t.Errorf("DefaultDir(windows) = %q, want ...\\Roster", got)
	}
}

// TestCommandKeyAndJournal: the command key comes and goes with the
// enrolment, and the journal survives a reopen; a corrupt journal is an
// error, never an empty one (that would forget the nonces used).
func TestCommandKeyAndJournal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CommandKey(); !errors.Is(err, ErrNoCommandKey) {
		t.Errorf("before enrolment: %v, want ErrNoCommandKey", err)
	}
	pub := ed25519.PublicKey(bytes.Repeat([]byte{7}, ed25519.PublicKeySize))
	e := Enrolment{Device: Device{DeviceID: "d", Collector: "https://c"}, KeyPEM: []byte("k"), CertPEM: []byte("c"), CAPEM: []byte("ca"),
		CommandKey: base64.StdEncoding.EncodeToString(pub)}
	if err := d.SaveEnrolment(e); err != nil {
		t.Fatal(err)
	}
	if got, err := d.CommandKey(); err != nil || !got.Equal(pub) {
		t.Errorf("got %x, %v; want %x", got, err, pub)
	}
	bad := e
	bad.CommandKey = "c2hvcnQ="
	if err := d.SaveEnrolment(bad); err == nil || !strings.Contains(err.Error(), "5 bytes, want 32") {
		t.Errorf("short key: got %v, want refused", err)
	}
	e.CommandKey = ""
	if err := d.SaveEnrolment(e); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CommandKey(); !errors.Is(err, ErrNoCommandKey) {
		t.Errorf("after enrolling with a collector that gave no key: %v, want ErrNoCommandKey", err)
	}

	j := &CommandJournal{Entries: []CommandEntry{{Digest: "a", ID: "w1", Nonce: "n1", Stage: wire.CommandDelivered}},
		Outbox: []Outgoing{{Digest: "a", Status: wire.CommandStatus{CommandID: "w1", Status: wire.CommandDelivered}}}}
	if err := d.SaveCommands(j); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d2.LoadCommands()
	if err != nil {
		t.Fatal(err)
	}
	if got.Nonce("n1") == nil || got.Nonce("n2") != nil || !got.Queued("a") || !got.Pending() {
		t.Errorf("reopened journal %+v", got)
	}
	if err := os.WriteFile(filepath.Join(path, CommandsFile), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.LoadCommands(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt journal: got %v, want an error", err)
	}
}
