package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSharedKeysRoundTrip: a CA made by one collector, sealed to a key
// file and unsealed into another (empty) pki directory, is the same CA and
// command-signing key there, and the second directory gets its own server
// certificate issued by that CA.
func TestSharedKeysRoundTrip(t *testing.T) {
	now := time.Now()
	dirA, dirB := t.TempDir(), filepath.Join(t.TempDir(), "pki")
	a, _, err := LoadOrCreate(dirA, []string{"collector-a.example.org"}, now)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "store.key")
	id, err := CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateKeyFile(keyFile); err == nil {
		t.Fatal("CreateKeyFile replaced an existing key file")
	}
	loaded, err := LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.String() != id.String() {
		t.Fatal("key file read back differs")
	}
	bundle, err := ExportBundle(dirA)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := bundle.Seal(id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "-----BEGIN AGE ENCRYPTED FILE-----") || strings.Contains(sealed, "PRIVATE KEY") {
		t.Fatalf("sealed bundle is not an armoured age file:\n%s", sealed)
	}
	opened, err := OpenBundle(sealed, loaded)
	if err != nil {
		t.Fatal(err)
	}
	if err := InstallBundle(dirB, opened); err != nil {
		t.Fatal(err)
	}
	b, created, err := LoadOrCreate(dirB, []string{"collector-b.example.org"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("LoadOrCreate made a new CA over the installed one")
	}
	if a.Fingerprint() != b.Fingerprint() || a.Command.KeyID() != b.Command.KeyID() {
		t.Fatalf("B has CA %s key %s, want A's %s %s", b.Fingerprint(), b.Command.KeyID(), a.Fingerprint(), a.Command.KeyID())
	}
	leaf := b.Server.Leaf
	if leaf == nil || leaf.Subject.CommonName == "" && len(leaf.DNSNames) == 0 {
		t.Fatalf("B has no server certificate of its own: %+v", leaf)
	}
	if err := leaf.CheckSignatureFrom(a.Cert); err != nil {
		t.Errorf("B's server certificate is not issued by the shared CA: %v", err)
	}
	if !strings.Contains(strings.Join(leaf.DNSNames, ","), "collector-b.example.org") {
		t.Errorf("B's server certificate names %v, want its own hostname", leaf.DNSNames)
	}
	for name, want := range map[string]os.FileMode{"ca.key": 0o600, "command.key": 0o600, "ca.crt": 0o644} {
		info, err := os.Stat(filepath.Join(dirB, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", name, info.Mode().Perm(), want)
		}
	}
	if err := InstallBundle(dirB, opened); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
		t.Errorf("installing over an existing CA: got %v", err)
	}
}

func TestSharedKeysRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreate(dir, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	bundle, err := ExportBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := CreateKeyFile(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := CreateKeyFile(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := bundle.Seal(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBundle(sealed, other); err == nil || !strings.Contains(err.Error(), "another key file") {
		t.Errorf("unsealing with another key file: got %v", err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if _, err := OpenBundle(string(tampered), id); err == nil {
		t.Error("a tampered bundle unsealed")
	}

	// A bundle whose CA key does not match its certificate is refused
	// before anything is written.
	dir2 := t.TempDir()
	if _, _, err := LoadOrCreate(dir2, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	b2, err := ExportBundle(dir2)
	if err != nil {
		t.Fatal(err)
	}
	mixed := bundle
	mixed.CAKey = b2.CAKey
	if err := InstallBundle(filepath.Join(t.TempDir(), "pki"), mixed); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("installing a mismatched bundle: got %v", err)
	}

	loose := filepath.Join(t.TempDir(), "loose")
	if _, err := CreateKeyFile(loose); err != nil {
		t.Fatal(err)
	}
	os.Chmod(loose, 0o644)
	if _, err := LoadKeyFile(loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: got %v", err)
	}
}
