package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/store/pgtest"
)

// newKeyFile makes a store key file with the real binary.
func newKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.key")
	out, err := exec.Command(collectorBin, "keyfile", "create", path).CombinedOutput()
	if err != nil {
		t.Fatalf("keyfile create: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "public key age1") {
		t.Fatalf("keyfile create printed %q", out)
	}
	return path
}

// serveFails runs serve expecting it to refuse to start, and returns its
// stderr.
func serveFails(t *testing.T, dataDir, cfg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, collectorBin, "serve", "--data", dataDir, "--config", cfg, "--listen", "127.0.0.1:0", "--http3=false")
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve did not refuse to start within 30 s; stderr:\n%s", stderr.String())
	}
	if err == nil {
		t.Fatalf("serve exited 0; stderr:\n%s", stderr.String())
	}
	return stderr.String()
}

// TestCollectorsJoinThroughStore: collectors given one PostgreSQL store
// and one key file share the CA and command-signing key without copying
// files, even when they start at the same moment on a new store; only the
// collector whose CA became the store's prints a bootstrap token; a
// collector that already has another CA, or another key file, refuses to
// start and says why.
func TestCollectorsJoinThroughStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and collectors")
	}
	pg := pgtest.Start(t)
	keyFile := newKeyFile(t)
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: postgres\n  dsn: "+pg.DSN("postgres")+"\n  key_file: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cs := make([]*collectortest.Collector, 2)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			cs[i] = collectortest.Start(t, collectorBin, collectortest.Options{DataDir: filepath.Join(root, string(rune('a'+i))), Config: cfg, Args: []string{"--http3=false"}})
		})
	}
	wg.Wait()
	if cs[0].Fingerprint != cs[1].Fingerprint {
		t.Fatalf("collectors started together have CAs %s and %s", cs[0].Fingerprint, cs[1].Fingerprint)
	}
	tokens := 0
	for _, c := range cs {
		if c.BootstrapToken != "" {
			tokens++
		}
	}
	if tokens != 1 {
		t.Errorf("%d collectors printed a bootstrap token, want 1", tokens)
	}
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = strings.TrimSpace(c.Run(t, "ca", "command-key", "--data", filepath.Join(root, string(rune('a'+i)))))
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("command-signing keys differ: %q and %q", keys[0], keys[1])
	}

	// A collector with a CA of its own (made on another store) is refused:
	// agents it enrolled would not be trusted by the others.
	own := filepath.Join(root, "own")
	solo := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: own, Args: []string{"--http3=false"}})
	solo.Stop()
	msg := serveFails(t, own, cfg)
	if !strings.Contains(msg, "share CA "+cs[0].Fingerprint) || !strings.Contains(msg, "Move "+filepath.Join(own, "pki")+" aside") {
		t.Errorf("serve with another CA said:\n%s", msg)
	}

	// Another key file cannot unseal the store's keys.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("store:\n  engine: postgres\n  dsn: "+pg.DSN("postgres")+"\n  key_file: "+newKeyFile(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := serveFails(t, filepath.Join(root, "c"), other); !strings.Contains(msg, "sealed with another key file") {
		t.Errorf("serve with another key file said:\n%s", msg)
	}
}
