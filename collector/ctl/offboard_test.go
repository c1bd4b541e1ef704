package ctl

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/shared/wire"
)

// wipeServer serves h over TLS with a throwaway CA and returns rosterctl's
// environment for it.
func wipeServer(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ca.ServerTLS([]string{"h2", "http/1.1"})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"ROSTER_URL": srv.URL, "ROSTER_TOKEN": testToken, "ROSTER_CA": caFile}
}

func TestOffboardWaitExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		states []string
		code   int
	}{
		{[]string{"requested", "delivered", "in_progress", "completed"}, 0},
		{[]string{"verified"}, 0},
		{[]string{"requested", "failed"}, 1},
		{[]string{"cancelled"}, 3},
		{[]string{"delivered", "expired"}, 3},
		{[]string{"in_progress"}, 2}, // never finishes: the timeout
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.states, ","), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			n := 0
			env := wipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/wipes/w-1" || r.Method != http.MethodGet {
					writeErr(w, 404, "not_found", r.URL.Path)
					return
				}
				mu.Lock()
				st := tt.states[min(n, len(tt.states)-1)]
				n++
				mu.Unlock()
				writeJSON(w, 200, map[string]any{"id": "w-1", "state": st, "failure_reason": "refused: wipe not allowed", "transitions": []any{}})
			}))
			res := runCtl(t, env, "offboard", "wait", "w-1", "--interval", "1ms", "--timeout", "300ms", "--json")
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", res.code, tt.code, res.stderr)
			}
			switch tt.code {
			case 0:
				if !strings.Contains(res.stdout, `"state": "`+tt.states[len(tt.states)-1]+`"`) {
					t.Errorf("stdout %s, want the final wipe as JSON", res.stdout)
				}
			case 1:
				if !strings.Contains(res.stderr, "refused: wipe not allowed") {
					t.Errorf("stderr %q, want the failure reason", res.stderr)
				}
			case 2:
				if !strings.Contains(res.stderr, "no outcome within 300ms") {
					t.Errorf("stderr %q, want the timeout named", res.stderr)
				}
			}
		})
	}
}

func TestOffboardStartAndRecord(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	bodies := map[string]map[string]any{}
	env := wipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		bodies[r.Method+" "+r.URL.Path] = m
		mu.Unlock()
		writeJSON(w, 201, map[string]any{"id": "w-9", "state": "requested", "transitions": []any{}})
	}))
	res := runCtl(t, env, "offboard", "start", "LAPTOP-7", "--ticket", "HR-123", "--reason", "leaver", "--reuse", "--deadline", "3d")
	if res.code != 0 || res.stdout != "w-9\n" {
		t.Fatalf("start: exit %d, stdout %q, stderr %s; want only the wipe id", res.code, res.stdout, res.stderr)
	}
	want := map[string]any{"device": "LAPTOP-7", "ticket": "HR-123", "reason": "leaver", "method": "agent", "reuse": true, "deadline": "3d"}
	if got := bodies["POST /api/v1/wipes"]; !jsonEqual(got, want) {
		t.Errorf("start body = %v, want %v", got, want)
	}
	ev := filepath.Join(t.TempDir(), "vendor-report.pdf")
	os.WriteFile(ev, []byte("%PDF-1.4 erased"), 0o600)
	res = runCtl(t, env, "offboard", "record-wipe", "w-9", "--method", "crypto erase", "--tool", "Blancco 7", "--performed-by", "Bob", "--verified-by", "Carol", "--evidence", ev)
	if res.code != 0 {
		t.Fatalf("record-wipe: exit %d: %s", res.code, res.stderr)
	}
	got := bodies["POST /api/v1/wipes/w-9/record"]
	if got["evidence"] != base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 erased")) || got["evidence_name"] != "vendor-report.pdf" || got["performed_by"] != "Bob" {
		t.Errorf("record body = %v", got)
	}
	for _, args := range [][]string{
		{"offboard", "start", "X", "--reason", "r"},
		{"offboard", "start", "X", "--ticket", "T", "--reason", "r", "--method", "fire"},
		{"offboard", "record-wipe", "w-9", "--method", "m"},
		{"offboard", "record-wipe", "w-9", "--method", "m", "--tool", "t", "--performed-by", "Bob", "--verified-by", "Carol"}, // no evidence
		{"offboard", "certificate", "w-9", "--format", "pdf"},
	} {
		if res := runCtl(t, env, args...); res.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, res.code, exitUsage)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// signed makes a certificate envelope the way the collector does.
func signed(t *testing.T, priv ed25519.PrivateKey, cert map[string]any) []byte {
	t.Helper()
	body, err := json.Marshal(cert)
	if err != nil {
		t.Fatal(err)
	}
	env := wire.SignedCertificate{Certificate: body, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body)), KeyID: wire.KeyID(priv.Public().(ed25519.PublicKey))}
	// Indented, as rosterctl --json or an editor would leave it.
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyCertificateOffline(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	good := signed(t, priv, map[string]any{"wipe_request_id": "w-1", "property_number": "WS-1", "serial_number": "SN1", "state": "completed", "sanitisation_description": "Purge"})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("collector.key", []byte(base64.StdEncoding.EncodeToString(pub)+"\n"))
	goodFile := write("good.json", good)
	i := bytes.Index(good, []byte("Purge"))
	tampered := bytes.Clone(good)
	tampered[i] = 'p'
	pubB64 := base64.StdEncoding.EncodeToString(pub)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"good with key", []string{goodFile, "--public-key", pubB64}, 0, "certificate OK"},
		{"good with key file", []string{goodFile, "--collector-key-file", keyFile}, 0, "wipe w-1, asset WS-1"},
		{"one byte changed", []string{write("tampered.json", tampered), "--public-key", pubB64}, 1, "signature does not match"},
		{"another collector's key", []string{goodFile, "--public-key", base64.StdEncoding.EncodeToString(otherPub)}, 1, "not with the given key"},
		{"not a certificate", []string{write("junk.json", []byte(`{"certificate":{},"signature":"x","key_id":"k","more":1}`)), "--public-key", pubB64}, 1, "not a signed certificate"},
		{"no key", []string{goodFile}, exitUsage, "needs one of"},
		{"bad key", []string{goodFile, "--public-key", "abc"}, exitUsage, "Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No ROSTER_URL: the check never needs a collector.
			res := runCtl(t, nil, append([]string{"offboard", "verify-certificate"}, tt.args...)...)
			if res.code != tt.code || !strings.Contains(res.stdout+res.stderr, tt.want) {
				t.Errorf("exit %d, output %q %q; want %d and %q", res.code, res.stdout, res.stderr, tt.code, tt.want)
			}
		})
	}
}
