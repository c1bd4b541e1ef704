package ctl

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
)

// evidenceCollector is the real API over a real registry
// (usersCollector), with an auditor's and a helpdesk principal's tokens
// and the collector's command key as the API publishes it.
type evidenceCollector struct {
	env      map[string]string
	helpdesk string
	key      string
	keyID    string
}

func newEvidenceCollector(t *testing.T) *evidenceCollector {
	t.Helper()
	env, reg := usersCollector(t)
	ctx := context.Background()
	_, auditor, err := reg.CreateToken(ctx, registry.TokenInput{Principal: "erin", Role: "auditor"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, helpdesk, err := reg.CreateToken(ctx, registry.TokenInput{Principal: "harry", Role: "helpdesk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, env, "--json", "audit", "verify", "--witness", "none")
	var v struct {
		PublicKey string `json:"public_key"`
		KeyID     string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.PublicKey == "" {
		t.Fatalf("audit verify for the collector's key: %v\n%s%s", err, r.stdout, r.stderr)
	}
	ev := maps.Clone(env)
	ev["ROSTER_TOKEN"] = auditor
	return &evidenceCollector{env: ev, helpdesk: helpdesk, key: v.PublicKey, keyID: v.KeyID}
}

// run is runCtl with the wall clock (the collector's period check uses
// it) and stderr as a terminal or not.
func (e *evidenceCollector) run(t *testing.T, terminal bool, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] },
		HomeDir: t.TempDir(), StderrTerminal: terminal})
	return result{code, stdout.String(), stderr.String()}
}

// TestEvidenceExportAndVerify exports from a real collector to a zip and
// to a directory, verifies both offline, and checks that one changed
// byte, a missing file and the wrong key each fail with exit 1 naming the
// file; a helpdesk token is refused.
func TestEvidenceExportAndVerify(t *testing.T) {
	t.Parallel()
	e := newEvidenceCollector(t)
	out := t.TempDir()
	from := time.Now().UTC().AddDate(0, 0, -7).Format(time.DateOnly)
	key := e.key
	keyFile := filepath.Join(out, "command-key.txt")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	zipPath := filepath.Join(out, "q3.zip")
	r := e.run(t, false, e.env, "evidence", "export", "--from", from, "--out", zipPath)
	if r.code != 0 || !strings.Contains(r.stdout, "signed by "+e.keyID) {
		t.Fatalf("export to zip: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr is not a terminal, yet export wrote %q there", r.stderr)
	}
	if parts, _ := filepath.Glob(filepath.Join(out, ".roster-evidence-*")); len(parts) != 0 {
		t.Errorf("temporary files left behind: %v", parts)
	}
	dir := filepath.Join(out, "q3")
	r = e.run(t, true, e.env, "evidence", "export", "--from", from, "--to", time.Now().UTC().Format(time.RFC3339), "--out", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "receiving evidence bundle:") {
		t.Fatalf("export to dir on a terminal: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Fatalf("extracted bundle: %v", err)
	}
	for _, b := range []string{zipPath, dir} {
		for _, k := range []string{key, keyFile} {
			if r := e.run(t, false, nil, "evidence", "verify", b, "--public-key", k); r.code != 0 || !strings.Contains(r.stdout, "bundle OK") {
				t.Errorf("verify %s with %s: exit %d\n%s\n%s", b, k, r.code, r.stdout, r.stderr)
			}
		}
	}
	if r := e.run(t, false, e.env, "evidence", "export", "--from", from, "--out", dir); r.code != exitUsage || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("export into a non-empty directory: exit %d %s", r.code, r.stderr)
	}

	p := filepath.Join(dir, "inventory", "devices.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "audit", "checkpoints.json")); err != nil {
		t.Fatal(err)
	}
	r = e.run(t, false, nil, "evidence", "verify", dir, "--public-key", key)
	if r.code != exitFailure || !strings.Contains(r.stderr, "inventory/devices.json: SHA-256 differs") || !strings.Contains(r.stderr, "audit/checkpoints.json: missing") {
		t.Errorf("tampered directory: exit %d\n%s", r.code, r.stderr)
	}
	otherKey, _, _ := ed25519.GenerateKey(rand.Reader)
	r = e.run(t, false, nil, "--json", "evidence", "verify", zipPath, "--public-key", base64.StdEncoding.EncodeToString(otherKey))
	if r.code != exitFailure || !strings.Contains(r.stdout, `"ok": false`) || !strings.Contains(r.stdout, "manifest.sig") {
		t.Errorf("another collector's key: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run(t, false, nil, "evidence", "verify", zipPath, "--public-key", "not-a-key"); r.code != exitUsage {
		t.Errorf("bad key: exit %d, want usage", r.code)
	}

	hd := map[string]string{"ROSTER_URL": e.env["ROSTER_URL"], "ROSTER_TOKEN": e.helpdesk, "ROSTER_CA": e.env["ROSTER_CA"]}
	refused := filepath.Join(out, "refused.zip")
	if r := e.run(t, false, hd, "evidence", "export", "--from", from, "--out", refused); r.code != exitFailure || !strings.Contains(r.stderr, "HTTP 403") {
		t.Errorf("helpdesk export: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(refused); err == nil {
		t.Error("a refused export left a file")
	}
	if r := e.run(t, false, e.env, "evidence", "export", "--from", "2001-01-01", "--out", refused); r.code != exitFailure || !strings.Contains(r.stderr, "longer than") {
		t.Errorf("too long a period: exit %d %s", r.code, r.stderr)
	}
}
