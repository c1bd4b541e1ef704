// Package registrytest gives collector tests real inventory snapshots: the
// golden results the agent produced for the captured hosts under
// testdata/hosts, or, where none are there yet, what the real roster-agent
// binary collects on this machine. Tests must never hand-write a snapshot;
// they derive the variations they need from these.
package registrytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// RepoRoot walks up from the working directory to the module root.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("module root (go.mod) not found")
		}
		dir = parent
	}
}

// Decode strictly decodes a snapshot.
func Decode(b []byte) (*wire.Snapshot, error) {
	var s wire.Snapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Snapshots returns the golden snapshots of the captured hosts keyed
// "<os>/<host>", falling back to one live inventory ("live") when there are
// no goldens with software and a hardware identity.
func Snapshots(t testing.TB) map[string]*wire.Snapshot {
	t.Helper()
	root := RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "testdata", "hosts", "*", "*", "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*wire.Snapshot{}
	rich := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Decode(b)
		if err != nil {
			// Another engineer may be regenerating it right now.
			t.Logf("skip %s: %v", f, err)
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(root, "testdata", "hosts"), filepath.Dir(f))
		out[filepath.ToSlash(rel)] = s
		rich = rich || isRich(s)
	}
	if !rich {
		out["live"] = Live(t)
	}
	return out
}

func isRich(s *wire.Snapshot) bool {
	return s.Hardware != nil && s.Software != nil && len(s.Software.Packages) >= 10 &&
		(s.Hardware.SystemSerial != "" || s.Hardware.SystemUUID != "")
}

// Rich returns a real snapshot with a hardware identity and at least ten
// packages, the first such in name order so tests are repeatable.
func Rich(t testing.TB) *wire.Snapshot {
	t.Helper()
	all := Snapshots(t)
	var names []string
	for n, s := range all {
		if isRich(s) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Fatal("no real snapshot with hardware identity and software found")
	}
	slices.Sort(names)
	return Clone(t, all[names[0]])
}

// Live runs the real agent's inventory on this machine.
func Live(t testing.TB) *wire.Snapshot {
	t.Helper()
	root := RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "roster-agent")
	build := exec.Command("go", "build", "-o", bin, "./cmd/roster-agent")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build roster-agent: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "inventory").Output()
	if err != nil {
		t.Fatalf("roster-agent inventory: %v", err)
	}
	s, err := Decode(out)
	if err != nil {
		t.Fatalf("decode live snapshot: %v", err)
	}
	return s
}

// Clone deep-copies a snapshot.
func Clone(t testing.TB, s *wire.Snapshot) *wire.Snapshot {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Hash is wire.SnapshotHash (protocol version 1's form) or a fatal error.
func Hash(t testing.TB, s *wire.Snapshot) string {
	t.Helper()
	return HashAt(t, s, 1)
}

// HashAt is wire.SnapshotHashAt (the form of protocol version v) or a
// fatal error.
func HashAt(t testing.TB, s *wire.Snapshot, v int) string {
	t.Helper()
	h, err := wire.SnapshotHashAt(s, v)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Diff is wire.Diff or a fatal error.
func Diff(t testing.TB, old, cur *wire.Snapshot) *wire.Delta {
	t.Helper()
	d, err := wire.Diff(old, cur)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// CSR makes a fresh ECDSA P-256 key and returns a PEM certificate request
// for it, with the key, as an agent does at enrolment.
func CSR(t testing.TB) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "roster-agent"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key
}
