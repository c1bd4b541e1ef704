package ctl

import (
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

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/pki"
)

// registerAPI fakes the register endpoints and records each request.
type registerAPI struct {
	mu   sync.Mutex
	reqs []string // "METHOD path?query content-type body"
}

func (f *registerAPI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

var lap1 = map[string]any{
	"id": "a1", "asset_tag": "LAP-1", "serial": "SN-1", "serial_normalised": "SN-1", "type": "laptop", "model": "X1", "owner": "Ada",
	"owner_email": "ada@example.com", "classification": "confidential", "location": "Berlin", "status": "in_service",
	"purchase_date": "2024-01-02", "fixed_asset_ref": "FA-9", "notes": "", "tags": []string{"eng", "eu"},
	"device":     map[string]any{"id": "d1", "hostname": "ada-laptop", "last_seen": "2024-05-02T08:00:00Z", "linked_by": "system_serial"},
	"flags":      []map[string]any{{"flag": "missing", "since": "2024-05-01T00:00:00Z", "severity": "warning", "detail": "no report"}},
	"created_at": "2024-05-01T00:00:00Z", "updated_at": "2024-05-01T00:00:00Z",
}

func (f *registerAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/assets/import", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "broken") {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "invalid_rows", "message": "2 row errors, nothing was written",
				"rows": []map[string]any{{"line": 3, "message": "status \"broken\": want one of ..."}, {"line": 5, "message": "asset_tag is empty"}}}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"dry_run":   r.URL.Query().Get("dry_run") == "true",
			"created":   []map[string]any{{"line": 2, "asset_tag": "LAP-2"}},
			"updated":   []map[string]any{{"line": 3, "asset_tag": "LAP-1", "changes": []map[string]any{{"field": "owner", "old": "Ada", "new": "Ada L"}}}},
			"unchanged": 7, "errors": []any{}, "links_changed": 1, "flags_set": 0, "flags_cleared": 1,
		})
	})
	mux.HandleFunc("GET /api/v1/assets/{tag}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("tag") != "LAP-1" {
			writeErr(w, http.StatusNotFound, "not_found", "no asset "+r.PathValue("tag"))
			return
		}
		writeJSON(w, http.StatusOK, lap1)
	})
	mux.HandleFunc("PATCH /api/v1/assets/{tag}", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, lap1) })
	mux.HandleFunc("POST /api/v1/assets", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusCreated, lap1) })
	mux.HandleFunc("POST /api/v1/assets/{tag}/link", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, lap1) })
	mux.HandleFunc("GET /api/v1/assets/export", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "json" {
			writeJSON(w, http.StatusOK, map[string]any{"items": []any{lap1}})
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, "asset_tag,serial\nLAP-1,SN-1\n")
	})
	mux.HandleFunc("GET /api/v1/reconcile", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"summary":      map[string]any{"matched": 1, "unregistered": 1, "missing": 1, "not_in_service": 0, "mismatches": 1},
			"matched":      []any{map[string]any{"asset_tag": "LAP-1", "device_id": "d1"}},
			"unregistered": []any{map[string]any{"device_id": "d9", "hostname": "stray", "system_serial": "S9", "last_seen": "2024-05-02T08:00:00Z", "since": "2024-05-01T00:00:00Z"}},
			"missing":      []any{map[string]any{"asset_tag": "LAP-3", "device_id": "", "detail": "no device has reported for this asset", "since": "2024-05-01T00:00:00Z"}},
			"mismatches":   []any{map[string]any{"asset_tag": "LAP-1", "device_id": "d1", "hostname": "bob-laptop", "field": "owner", "register": "Ada", "reported": "bob"}},
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f.mu.Lock()
		f.reqs = append(f.reqs, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(body)))
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, http.StatusUnauthorized, "unauthenticated", "unknown API token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func newRegisterFixture(t *testing.T) (*registerAPI, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api := &registerAPI{}
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

func TestAssetsCommands(t *testing.T) {
	t.Parallel()
	api, env := newRegisterFixture(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "register.csv")
	os.WriteFile(good, []byte("Tag;Owner\nLAP-2;Bob\n"), 0o600)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("asset_tag,status\nX,broken\n"), 0o600)

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		wantReqEnd string
	}{
		{"import dry run", []string{"assets", "import", good, "--dry-run", "--map", "Tag=asset_tag"}, 0,
			"create  LAP-2 (line 2)\nupdate  LAP-1 (line 3)\n          owner: \"Ada\" -> \"Ada L\"\n",
			"dry run, nothing written: 1 created, 1 updated, 7 unchanged, 0 errors\n",
			"POST /api/v1/assets/import?dry_run=true&map=Tag%3Dasset_tag text/csv Tag;Owner\nLAP-2;Bob"},
		{"import row errors", []string{"assets", "import", bad}, 1, "",
			"line 3: status \"broken\": want one of ...\nline 5: asset_tag is empty\nrosterctl: 2 row errors, nothing was written (invalid_rows, HTTP 400)\n",
			"POST /api/v1/assets/import text/csv asset_tag,status\nX,broken"},
		{"show", []string{"assets", "show", "LAP-1"}, 0, `
id:                 a1
asset_tag:          LAP-1
serial:             SN-1
serial_normalised:  SN-1
type:               laptop
model:              X1
owner:              Ada
owner_email:        ada@example.com
classification:     confidential
location:           Berlin
status:             in_service
purchase_date:      2024-01-02
fixed_asset_ref:    FA-9
notes:              
tags:               eng,eu
device:             ada-laptop (d1), linked by system_serial, last seen 2024-05-02T08:00:00Z
flags:              missing since 2024-05-01T00:00:00Z (no report)
created_at:         2024-05-01T00:00:00Z
updated_at:         2024-05-01T00:00:00Z
`, "", "GET /api/v1/assets/LAP-1"},
		{"set sends only given fields", []string{"assets", "set", "LAP-1", "--owner", "Ada L", "--tags", "a; b;", "--json"}, 0, "", "",
			`PATCH /api/v1/assets/LAP-1 application/json {"owner":"Ada L","tags":["a","b"]}`},
		{"add", []string{"assets", "add", "LAP-1", "--status", "in_service", "--serial", "SN-1", "--json"}, 0, "", "",
			`POST /api/v1/assets application/json {"asset_tag":"LAP-1","serial":"SN-1","status":"in_service"}`},
		{"add without status", []string{"assets", "add", "LAP-1"}, 2, "", "rosterctl: --status is required (ordered, in_stock, in_service, in_repair, offboarding, decommissioned, disposed)\nRun 'rosterctl help' for usage.\n", ""},
		{"set nothing", []string{"assets", "set", "LAP-1"}, 2, "", "rosterctl: assets set LAP-1: give at least one field, e.g. --owner NAME or --status in_service\nRun 'rosterctl help' for usage.\n", ""},
		{"link", []string{"assets", "link", "LAP-1", "vm-01", "--json"}, 0, "", "", `POST /api/v1/assets/LAP-1/link application/json {"device":"vm-01"}`},
		{"export csv", []string{"assets", "export", "--csv"}, 0, "asset_tag,serial\nLAP-1,SN-1\n", "", "GET /api/v1/assets/export?format=csv"},
		{"reconcile table", []string{"reconcile", "--hostname-rule", "(?P<owner>[a-z]+)-laptop"}, 0, `matched 1, unregistered 1, missing 1, not in service 0, mismatches 1

FINDING       TAG    DEVICE  HOSTNAME    DETAIL                                      SINCE
unregistered         d9      stray       serial S9, last seen 2024-05-02T08:00:00Z   2024-05-01T00:00:00Z
missing       LAP-3                      no device has reported for this asset       2024-05-01T00:00:00Z
mismatch      LAP-1  d1      bob-laptop  owner: register "Ada", hostname says "bob"  
`, "", "GET /api/v1/reconcile?hostname_rule=%28%3FP%3Cowner%3E%5Ba-z%5D%2B%29-laptop"},
		{"reconcile csv", []string{"reconcile", "--csv"}, 0, `finding,asset_tag,device_id,hostname,detail,since
unregistered,,d9,stray,"serial S9, last seen 2024-05-02T08:00:00Z",2024-05-01T00:00:00Z
missing,LAP-3,,,no device has reported for this asset,2024-05-01T00:00:00Z
mismatch,LAP-1,d1,bob-laptop,"owner: register ""Ada"", hostname says ""bob""",
`, "", "GET /api/v1/reconcile"},
		{"reconcile both formats", []string{"reconcile", "--csv", "--json"}, 2, "", "rosterctl: reconcile: --csv and --json exclude each other\nRun 'rosterctl help' for usage.\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(api.seen())
			r := runCtl(t, env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if r.code != 0 || !strings.Contains(strings.Join(tt.args, " "), "--json") {
				if diff := cmp.Diff(strings.TrimPrefix(tt.stdout, "\n"), r.stdout); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			} else {
				var v any
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Errorf("--json printed %q: %v", r.stdout, err)
				}
			}
			if tt.stderr != "" || r.code == 0 {
				if diff := cmp.Diff(tt.stderr, r.stderr); diff != "" {
					t.Errorf("stderr (-want +got):\n%s", diff)
				}
			}
			reqs := api.seen()[before:]
			if tt.wantReqEnd == "" {
				if len(reqs) != 0 {
					t.Errorf("sent %q, want nothing", reqs)
				}
				return
			}
			if len(reqs) != 1 || reqs[0] != tt.wantReqEnd {
				t.Errorf("requests %q, want [%q]", reqs, tt.wantReqEnd)
			}
		})
	}
}
