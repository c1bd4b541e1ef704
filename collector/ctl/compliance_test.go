package ctl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/pki"
)

// complianceAPI fakes the compliance endpoints of docs/api.md and keeps
// the bodies and queries it was sent.
type complianceAPI struct {
	mu      sync.Mutex
	bodies  []map[string]any
	queries []string
}

func (f *complianceAPI) handler() http.Handler {
	mux := http.NewServeMux()
	exception := map[string]any{"id": "e1", "status": "active", "policy_id": "CFG-ENC-01", "device_id": "d1", "asset_tag": "",
		"reason": "legacy", "compensating_control": "VLAN", "requested_by": "alice", "requested_by_id": "p-alice",
		"created_at": "2024-05-01T00:00:00Z", "expires_at": "2024-06-01T00:00:00Z", "approver": "ciso", "approver_id": "p-ciso",
		"denied_by": "", "denied_by_id": "", "decided_at": "2024-05-01T01:00:00Z", "decision_note": "", "revoked_at": nil, "revoked_by": ""}
	mux.HandleFunc("POST /api/v1/exceptions", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&body); err != nil {
			writeErr(w, http.StatusBadRequest, "malformed_json", err.Error())
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, exception)
	})
	mux.HandleFunc("GET /api/v1/exceptions", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{exception}})
	})
	mux.HandleFunc("GET /api/v1/exceptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, exception)
	})
	mux.HandleFunc("POST /api/v1/exceptions/{id}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeErr(w, http.StatusBadRequest, "malformed_json", err.Error())
				return
			}
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, map[string]any{"path": r.URL.Path, "body": body})
		f.mu.Unlock()
		if r.PathValue("verb") == "approve" && body["note"] == "mine" {
			writeErr(w, http.StatusForbidden, "separation_of_duties", "separation of duties: you (alice) requested this exception, so it must be approved by someone else holding the approve permission")
			return
		}
		out := map[string]any{}
		for k, v := range exception {
			out[k] = v
		}
		if r.PathValue("verb") == "deny" {
			out["status"], out["approver"], out["denied_by"] = "denied", "", "bob"
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE /api/v1/exceptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "e1" {
			writeErr(w, http.StatusNotFound, "not_found", "no exception")
			return
		}
		out := map[string]any{}
		for k, v := range exception {
			out[k] = v
		}
		out["status"], out["revoked_by"] = "revoked", "bob"
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{
			map[string]any{"n": 1, "id": "v1", "kind": "compliance.changed", "at": "2024-05-02T08:00:00Z", "device_id": "d1", "asset_tag": "LAP-1", "subject": "compliance state pass → fail", "data": map[string]any{}},
		}})
	})
	mux.HandleFunc("GET /api/v1/compliance/summary", func(w http.ResponseWriter, r *http.Request) {
		counts := func(fail, pass int) map[string]int {
			return map[string]int{"fail": fail, "unknown": 0, "stale": 0, "in_grace": 0, "exempt": 0, "pass": pass, "not_applicable": 0}
		}
		writeJSON(w, http.StatusOK, map[string]any{"devices": 3, "by_state": counts(1, 2),
			"policies": []any{map[string]any{"id": "CFG-ENC-01", "title": "Disk encrypted", "severity": "high", "counts": counts(1, 2)}}})
	})
	mux.HandleFunc("GET /api/v1/devices/{ref}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": "d1", "hostname": "lap-1", "platform": "linux", "state": "active", "flags": []string{},
			"asset": map[string]any{"asset_tag": "LAP-1"},
			"compliance": map[string]any{"state": "fail", "results": []any{
				map[string]any{"policy_id": "CFG-ENC-01", "status": "fail", "severity": "high", "reason": "root volume /dev/vda is not encrypted", "exception_id": ""},
				map[string]any{"policy_id": "CFG-OS-01", "status": "exempt", "severity": "high", "reason": "exception e1", "exception_id": "e1"},
			}},
			"exceptions":     []any{exception},
			"recent_changes": []any{map[string]any{"at": "2024-05-02T08:00:00Z", "kind": "os_changed", "subject": "os", "old": "Debian 11", "new": "Debian 12\x1b[31m"}},
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, http.StatusUnauthorized, "unauthenticated", "unknown API token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func newComplianceFixture(t *testing.T) (*complianceAPI, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api := &complianceAPI{}
	srv := httptest.NewUnstartedServer(api.handler())
	srv.TLS = ca.ServerTLS([]string{"h2", "http/1.1"})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return api, map[string]string{"ROSTER_URL": srv.URL, "ROSTER_TOKEN": testToken, "ROSTER_CA": caFile}
}

func TestComplianceCommands(t *testing.T) {
	t.Parallel()
	_, env := newComplianceFixture(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"summary", []string{"compliance", "summary"}, `
DEVICES  FAIL  UNKNOWN  STALE  IN_GRACE  EXEMPT  PASS  NOT_APPLICABLE
3        1     0        0      0         0       2     0

POLICY      SEVERITY  FAIL  UNKNOWN  STALE  IN_GRACE  EXEMPT  PASS  NOT_APPLICABLE  TITLE
CFG-ENC-01  high      1     0        0      0         0       2     0               Disk encrypted
`},
		{"events", []string{"events", "--since", "24h"}, `
AT                    KIND                DEVICE  ASSET  SUBJECT
2024-05-02T08:00:00Z  compliance.changed  d1      LAP-1  compliance state pass → fail
`},
		{"exceptions list", []string{"exceptions", "list", "--active"}, `
ID  STATUS  POLICY      DEVICE/ASSET  EXPIRES               REQUESTED BY  APPROVER  REASON
e1  active  CFG-ENC-01  d1            2024-06-01T00:00:00Z  alice         ciso      legacy
`},
		{"exceptions revoke", []string{"exceptions", "revoke", "e1"}, `
id:                    e1
status:                revoked
policy_id:             CFG-ENC-01
device_id:             d1
asset_tag:             
reason:                legacy
compensating_control:  VLAN
requested_by:          alice
created_at:            2024-05-01T00:00:00Z
expires_at:            2024-06-01T00:00:00Z
approver:              ciso
denied_by:             
decided_at:            2024-05-01T01:00:00Z
decision_note:         
revoked_at:            
revoked_by:            bob
`},
		{"exceptions deny", []string{"exceptions", "deny", "e1", "--note", "no"}, `
id:                    e1
status:                denied
policy_id:             CFG-ENC-01
device_id:             d1
asset_tag:             
reason:                legacy
compensating_control:  VLAN
requested_by:          alice
created_at:            2024-05-01T00:00:00Z
expires_at:            2024-06-01T00:00:00Z
approver:              
denied_by:             bob
decided_at:            2024-05-01T01:00:00Z
decision_note:         
revoked_at:            
revoked_by:            
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runCtl(t, env, tt.args...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tt.want, "\n"), res.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExceptionsDecide(t *testing.T) {
	t.Parallel()
	api, env := newComplianceFixture(t)
	if res := runCtl(t, env, "exceptions", "approve", "e1"); res.code != 0 || !strings.Contains(res.stdout, "approver:              ciso") {
		t.Errorf("approve: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	res := runCtl(t, env, "exceptions", "approve", "e1", "--note", "mine")
	if res.code == 0 || !strings.Contains(res.stderr, "must be approved by someone else") {
		t.Errorf("a refused approval: exit %d, stderr %q; want the collector's reason", res.code, res.stderr)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	want := []map[string]any{{"path": "/api/v1/exceptions/e1/approve", "body": map[string]any(nil)},
		{"path": "/api/v1/exceptions/e1/approve", "body": map[string]any{"note": "mine"}}}
	if diff := cmp.Diff(want, api.bodies); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestDevicesShowCompliance(t *testing.T) {
	t.Parallel()
	_, env := newComplianceFixture(t)
	res := runCtl(t, env, "devices", "show", "lap-1")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{
		"\nAsset (register):\nasset_tag:       LAP-1\n", // the register's view as its own section
		"\nCompliance: fail\n",
		"  CFG-ENC-01  fail    high      root volume /dev/vda is not encrypted",
		"  CFG-OS-01   exempt  high      exception e1                           e1",
		"\nOpen exceptions:\n",
		"  e1  CFG-ENC-01  2024-06-01T00:00:00Z  ciso      legacy  VLAN",
		"\nRecent changes:\n",
		`os_changed  os       Debian 11  Debian 12\x1b[31m`, // the escape shown, not sent
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("devices show output lacks %q:\n%s", want, res.stdout)
		}
	}
	js := runCtl(t, env, "devices", "show", "lap-1", "--json")
	var m map[string]any
	if err := json.Unmarshal([]byte(js.stdout), &m); err != nil || m["compliance"] == nil || m["recent_changes"] == nil {
		t.Errorf("--json: %v, %s", err, js.stdout)
	}
}

func TestExceptionsAdd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantBody map[string]any
	}{
		{"device and date", []string{"--device", "lap-1", "--expires", "2026-12-31"}, 0,
			map[string]any{"policy_id": "CFG-ENC-01", "device": "lap-1", "reason": "legacy", "compensating_control": "VLAN", "expires_at": "2026-12-31"}},
		{"asset and lifetime", []string{"--asset", "LAP-1", "--expires", "30d"}, 0,
			map[string]any{"policy_id": "CFG-ENC-01", "asset_tag": "LAP-1", "reason": "legacy", "compensating_control": "VLAN", "expires_in": "30d"}},
		{"a typed approver", []string{"--device", "lap-1", "--expires", "30d", "--approver", "ciso"}, exitUsage, nil},
		{"both targets", []string{"--device", "lap-1", "--asset", "LAP-1", "--expires", "30d"}, exitUsage, nil},
		{"no target", []string{"--expires", "30d"}, exitUsage, nil},
		{"no expiry", []string{"--device", "lap-1"}, exitUsage, nil},
		{"bad expiry", []string{"--device", "lap-1", "--expires", "next year"}, exitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, env := newComplianceFixture(t)
			verb := "request"
			if strings.Contains(tt.name, "date") {
				verb = "add" // the old name still works
			}
			args := append([]string{"exceptions", verb, "--policy", "CFG-ENC-01", "--reason", "legacy", "--control", "VLAN", "--json"}, tt.args...)
			res := runCtl(t, env, args...)
			if res.code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", res.code, tt.wantCode, res.stderr)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if tt.wantBody == nil {
				if len(api.bodies) != 0 {
					t.Errorf("a refused command sent %v", api.bodies)
				}
				return
			}
			if len(api.bodies) != 1 {
				t.Fatalf("bodies sent: %v", api.bodies)
			}
			if diff := cmp.Diff(tt.wantBody, api.bodies[0]); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.stdout, `"id": "e1"`) {
				t.Errorf("--json stdout %q", res.stdout)
			}
		})
	}
}
