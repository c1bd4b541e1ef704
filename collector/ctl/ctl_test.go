package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/pki"
)

const testToken = "rst_test-token"

// fakeAPI speaks docs/api.md over the handful of records a test gives it
// and remembers each request's query.
type fakeAPI struct {
	devices []map[string]any
	mu      sync.Mutex
	queries []url.Values
	bodies  []string
}

func (f *fakeAPI) record(r *http.Request, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.Query())
	f.bodies = append(f.bodies, body)
}

func (f *fakeAPI) seen() ([]url.Values, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.queries...), append([]string(nil), f.bodies...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// pageOf pages items by the limit and cursor (an index) of r.
func pageOf(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	limit, start := 100, 0
	if l := r.URL.Query().Get("limit"); l != "" {
		limit, _ = strconv.Atoi(l)
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		start, _ = strconv.Atoi(c)
	}
	end := min(start+limit, len(items))
	resp := map[string]any{"items": append([]map[string]any{}, items[start:end]...)}
	if end < len(items) {
		resp["next_cursor"] = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	find := func(ref string) ([]map[string]any, bool) {
		var hits []map[string]any
		for _, d := range f.devices {
			if d["id"] == ref || d["hostname"] == ref || d["system_serial"] == ref {
				hits = append(hits, d)
			}
		}
		return hits, len(hits) > 0
	}
	withDevice := func(next func(w http.ResponseWriter, r *http.Request, d map[string]any)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			hits, ok := find(r.PathValue("ref"))
			switch {
			case !ok:
				writeErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("no device matches %q", r.PathValue("ref")))
			case len(hits) > 1:
				writeErr(w, http.StatusConflict, "conflict", fmt.Sprintf("hostname %q names %d devices; use the device id", r.PathValue("ref"), len(hits)))
			default:
				next(w, r, hits[0])
			}
		}
	}
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		var items []map[string]any
		for _, d := range f.devices {
			if p := r.URL.Query().Get("platform"); p == "" || d["platform"] == p {
				items = append(items, d)
			}
		}
		pageOf(w, r, items)
	})
	mux.Handle("GET /api/v1/devices/{ref}", withDevice(func(w http.ResponseWriter, r *http.Request, d map[string]any) {
		writeJSON(w, http.StatusOK, d)
	}))
	mux.Handle("POST /api/v1/devices/{ref}/revoke", withDevice(func(w http.ResponseWriter, r *http.Request, d map[string]any) {
		out := map[string]any{}
		for k, v := range d {
			out[k] = v
		}
		out["state"] = "revoked"
		writeJSON(w, http.StatusOK, out)
	}))
	mux.Handle("GET /api/v1/devices/{ref}/software", withDevice(func(w http.ResponseWriter, r *http.Request, d map[string]any) {
		pageOf(w, r, []map[string]any{
			{"name": "openssl", "version": "3.0.13-0ubuntu3", "arch": "amd64", "source": "dpkg", "publisher": "Ubuntu Developers", "install_date": nil},
			{"name": "curl", "version": "8.5.0-2ubuntu10", "arch": "amd64", "source": "dpkg", "publisher": "Ubuntu Developers", "install_date": "2024-05-01T10:00:00Z"},
		})
	}))
	history := []map[string]any{
		{"id": 7, "device_id": "d1", "hostname": "web-01", "at": "2024-05-02T08:00:00Z", "seq": 12, "kind": "software_changed", "subject": "openssl", "old": "3.0.2", "new": "3.0.13"},
	}
	mux.Handle("GET /api/v1/devices/{ref}/history", withDevice(func(w http.ResponseWriter, r *http.Request, d map[string]any) {
		pageOf(w, r, history)
	}))
	mux.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) { pageOf(w, r, history) })
	mux.HandleFunc("GET /api/v1/software", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("name") == "" {
			writeErr(w, http.StatusBadRequest, "bad_parameter", "name is required")
			return
		}
		pageOf(w, r, []map[string]any{{"device_id": "d1", "hostname": "web-01", "name": "openssl", "version": "3.0.13", "arch": "amd64", "source": "dpkg"}})
	})
	mux.HandleFunc("POST /api/v1/secrets", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Label     string `json:"label"`
			ExpiresIn string `json:"expires_in"`
			MaxUses   int    `json:"max_uses"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "malformed_json", err.Error())
			return
		}
		if req.ExpiresIn == "1000d" {
			writeErr(w, http.StatusBadRequest, "bad_request", "expires_in is longer than a year")
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "s1", "secret": "rse_SECRET", "label": req.Label, "expires_at": "2024-06-01T00:00:00Z", "max_uses": req.MaxUses})
	})
	mux.HandleFunc("GET /api/v1/secrets", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": []map[string]any{
			{"id": "s1", "label": "site-A", "created_at": "2024-05-01T00:00:00Z", "expires_at": "2024-06-01T00:00:00Z", "max_uses": 10, "uses": 3, "revoked_at": nil},
			{"id": "s2", "label": "lab", "created_at": "2024-05-01T00:00:00Z", "expires_at": nil, "max_uses": 0, "uses": 1, "revoked_at": "2024-05-03T00:00:00Z"},
		}})
	})
	mux.HandleFunc("DELETE /api/v1/secrets/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "s1" {
			writeErr(w, http.StatusNotFound, "not_found", "no such secret")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": "s1", "label": "site-A", "created_at": "2024-05-01T00:00:00Z", "expires_at": nil, "max_uses": 0, "uses": 3, "revoked_at": "2024-05-04T00:00:00Z"})
	})
	mux.HandleFunc("GET /api/v1/broken", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>bad gateway</html>")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.record(r, string(body))
		switch r.Header.Get("Authorization") {
		case "Bearer " + testToken:
		case "Bearer rst_readonly":
			writeErr(w, http.StatusForbidden, "forbidden", "token lacks the admin role")
			return
		default:
			writeErr(w, http.StatusUnauthorized, "unauthenticated", "unknown API token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func testDevices(n int) []map[string]any {
	var ds []map[string]any
	for i := range n {
		ds = append(ds, map[string]any{
			"id": fmt.Sprintf("d%d", i+1), "hostname": fmt.Sprintf("web-%02d", i+1), "platform": "linux",
			"system_serial": fmt.Sprintf("SN%03d", i+1), "os_name": "Ubuntu", "os_version": "24.04",
			"state": "active", "flags": []string{}, "last_seen": "2024-05-02T08:00:00Z", "macs": []string{"52:54:00:12:34:56"},
			"software_count": 1200 + i, "last_report_seq": 12,
		})
	}
	return ds
}

type fixture struct {
	api    *fakeAPI
	url    string
	caFile string
	ca     *pki.CA
}

func newFixture(t *testing.T, devices []map[string]any) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{devices: devices}
	srv := httptest.NewUnstartedServer(api.handler())
	srv.TLS = ca.ServerTLS([]string{"h2", "http/1.1"})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{api: api, url: srv.URL, caFile: caFile, ca: ca}
}

type result struct {
	code           int
	stdout, stderr string
}

// runCtl runs rosterctl with env (ROSTER_* variables) and args; HomeDir is an
// empty directory unless env names HOME.
func runCtl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	home := env["HOME"]
	if home == "" {
		home = t.TempDir()
	}
	code := Run(context.Background(), args, Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv:  func(k string) string { return env[k] },
		HomeDir: home,
		Now:     func() time.Time { return time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC) },
	})
	return result{code, stdout.String(), stderr.String()}
}

func (f *fixture) env() map[string]string {
	return map[string]string{"ROSTER_URL": f.url, "ROSTER_TOKEN": testToken, "ROSTER_CA": f.caFile}
}

func TestTables(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testDevices(2))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"devices list", []string{"devices", "list"}, `
ID  HOSTNAME  PLATFORM  OS            SERIAL  STATE   LAST SEEN
d1  web-01    linux     Ubuntu 24.04  SN001   active  2024-05-02T08:00:00Z
d2  web-02    linux     Ubuntu 24.04  SN002   active  2024-05-02T08:00:00Z
`},
		{"devices show", []string{"devices", "show", "web-02"}, `
id:                        d2
hostname:                  web-02
platform:                  linux
state:                     active
flags:                     
system_serial:             SN002
system_uuid:               
board_serial:              
macs:                      52:54:00:12:34:56
vendor:                    
model:                     
os_name:                   Ubuntu
os_version:                24.04
os_build:                  
kernel:                    
last_update_at:            
pending_updates:           
pending_security_updates:  
reboot_required:           
system_encrypted:          
agent_version:             
software_count:            1201
first_seen:                
last_seen:                 2024-05-02T08:00:00Z
last_report_seq:           12
enrolled_at:               
cert_serial:               
cert_not_after:            

Compliance: not evaluated yet

Open exceptions: none
`},
		{"devices software", []string{"devices", "software", "d1"}, `
NAME     VERSION          ARCH   SOURCE  PUBLISHER          INSTALLED
openssl  3.0.13-0ubuntu3  amd64  dpkg    Ubuntu Developers  
curl     8.5.0-2ubuntu10  amd64  dpkg    Ubuntu Developers  2024-05-01T10:00:00Z
`},
		{"devices history", []string{"devices", "history", "d1"}, `
AT                    HOSTNAME  SEQ  KIND              SUBJECT  OLD    NEW
2024-05-02T08:00:00Z  web-01    12   software_changed  openssl  3.0.2  3.0.13
`},
		{"software search", []string{"software", "search", "openssl"}, `
DEVICE  HOSTNAME  NAME     VERSION  ARCH   SOURCE
d1      web-01    openssl  3.0.13   amd64  dpkg
`},
		{"secrets list", []string{"secrets", "list"}, `
ID  LABEL   CREATED               EXPIRES               USES  REVOKED
s1  site-A  2024-05-01T00:00:00Z  2024-06-01T00:00:00Z  3/10  
s2  lab     2024-05-01T00:00:00Z                        1     2024-05-03T00:00:00Z
`},
		{"secrets create", []string{"secrets", "create", "--label", "site-A", "--expires", "30d", "--max-uses", "5"}, `
id:          s1
secret:      rse_SECRET
label:       site-A
expires_at:  2024-06-01T00:00:00Z
max_uses:    5
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, f.env(), tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if diff := cmp.Diff(strings.TrimPrefix(tt.want, "\n"), r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return v
}

func TestJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testDevices(3))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"devices list page as sent", []string{"devices", "list", "--json", "--limit", "2"},
			`{"items":[` + devJSON(1) + `,` + devJSON(2) + `],"next_cursor":"2"}`},
		{"devices list --all", []string{"--json", "devices", "list", "--limit", "2", "--all"},
			`{"items":[` + devJSON(1) + `,` + devJSON(2) + `,` + devJSON(3) + `]}`},
		{"devices show", []string{"devices", "show", "SN003", "--json"}, devJSON(3)},
		{"secrets create", []string{"secrets", "create", "--json", "--label", "x"},
			`{"id":"s1","secret":"rse_SECRET","label":"x","expires_at":"2024-06-01T00:00:00Z","max_uses":0}`},
		{"secrets revoke", []string{"secrets", "revoke", "s1", "--json"},
			`{"id":"s1","label":"site-A","created_at":"2024-05-01T00:00:00Z","expires_at":null,"max_uses":0,"uses":3,"revoked_at":"2024-05-04T00:00:00Z"}`},
		{"empty --all", []string{"devices", "list", "--platform", "windows", "--all", "--json"}, `{"items":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, f.env(), tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, r.stdout)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

func devJSON(i int) string {
	b, _ := json.Marshal(testDevices(i)[i-1])
	return string(b)
}

func TestPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testDevices(5))
	r := runCtl(t, f.env(), "devices", "list", "--limit", "2", "--all")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := strings.Count(r.stdout, "\n"); got != 6 {
		t.Errorf("got %d lines, want header + 5 devices:\n%s", got, r.stdout)
	}
	queries, _ := f.api.seen()
	var cursors []string
	for _, q := range queries {
		cursors = append(cursors, q.Get("cursor"))
	}
	if diff := cmp.Diff([]string{"", "2", "4"}, cursors); diff != "" {
		t.Errorf("cursors sent (-want +got):\n%s", diff)
	}

	r = runCtl(t, f.env(), "devices", "list", "--limit", "2", "--cursor", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "web-03") || strings.Contains(r.stdout, "web-01") {
		t.Errorf("second page: exit %d, stdout %q", r.code, r.stdout)
	}
	if want := "--cursor 4"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want a hint naming %q", r.stderr, want)
	}
}

func TestQueryParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want url.Values
	}{
		{"device filters", []string{"devices", "list", "--platform", "linux", "--hostname", "web-*", "--serial", "SN1", "--state", "active",
			"--seen-after", "2024-05-01", "--seen-before", "7d", "--software", "openssl", "--software-version", "3.0.13", "--limit", "50"},
			url.Values{"platform": {"linux"}, "hostname": {"web-*"}, "serial": {"SN1"}, "state": {"active"}, "seen_after": {"2024-05-01T00:00:00Z"},
				"seen_before": {"2024-05-03T12:00:00Z"}, "software": {"openssl"}, "software_version": {"3.0.13"}, "limit": {"50"}}},
		{"device history", []string{"devices", "history", "d1", "--since", "2024-05-01T10:00:00+02:00", "--until", "12h"},
			url.Values{"since": {"2024-05-01T08:00:00Z"}, "until": {"2024-05-10T00:00:00Z"}}},
		{"fleet history", []string{"history", "--kind", "os_changed", "--since", "1w"},
			url.Values{"kind": {"os_changed"}, "since": {"2024-05-03T12:00:00Z"}}},
		{"software search", []string{"software", "search", "openssl", "--version", "3.0.13", "--source", "dpkg"},
			url.Values{"name": {"openssl"}, "version": {"3.0.13"}, "source": {"dpkg"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testDevices(1))
			r := runCtl(t, f.env(), tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			queries, _ := f.api.seen()
			if len(queries) != 1 {
				t.Fatalf("got %d requests, want 1", len(queries))
			}
			if diff := cmp.Diff(tt.want, queries[0]); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretsCreateBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := runCtl(t, f.env(), "secrets", "create", "--label", "site-A", "--expires", "30d", "--max-uses", "5", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	_, bodies := f.api.seen()
	if diff := cmp.Diff(decode(t, `{"label":"site-A","expires_in":"30d","max_uses":5}`), decode(t, bodies[0])); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	var out struct{ Secret string }
	json.Unmarshal([]byte(r.stdout), &out)
	if out.Secret != "rse_SECRET" {
		t.Errorf("got secret %q, want rse_SECRET", out.Secret)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	dup := testDevices(2)
	dup[1]["hostname"] = "web-01"
	f := newFixture(t, dup)
	badToken := f.env()
	badToken["ROSTER_TOKEN"] = "rst_wrong"
	readonly := f.env()
	readonly["ROSTER_TOKEN"] = "rst_readonly"
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown token", badToken, []string{"devices", "list"}, 1, "rosterctl: authentication failed: unknown API token (unauthenticated, HTTP 401)\n"},
		{"forbidden", readonly, []string{"secrets", "list"}, 1, "rosterctl: authentication failed: token lacks the admin role (forbidden, HTTP 403)\n"},
		{"not found", f.env(), []string{"devices", "show", "nope"}, 1, "rosterctl: no device matches \"nope\" (not_found, HTTP 404)\n"},
		{"conflict", f.env(), []string{"devices", "show", "web-01"}, 1, "rosterctl: hostname \"web-01\" names 2 devices; use the device id (conflict, HTTP 409)\n"},
		{"api bad request", f.env(), []string{"secrets", "create", "--expires", "1000d"}, 1, "rosterctl: expires_in is longer than a year (bad_request, HTTP 400)\n"},
		{"revoke unknown secret", f.env(), []string{"secrets", "revoke", "s9"}, 1, "rosterctl: no such secret (not_found, HTTP 404)\n"},
		{"unreachable", map[string]string{"ROSTER_URL": "https://127.0.0.1:1", "ROSTER_TOKEN": "t", "ROSTER_CA": f.caFile}, []string{"devices", "list"}, 1, "connection refused"},
		{"no url", map[string]string{"ROSTER_TOKEN": "t"}, []string{"devices", "list"}, 2, "no collector URL"},
		{"no token", map[string]string{"ROSTER_URL": f.url}, []string{"devices", "list"}, 2, "no API token"},
		{"http url", map[string]string{"ROSTER_URL": "http://127.0.0.1", "ROSTER_TOKEN": "t"}, []string{"devices", "list"}, 2, "must start with https://"},
		{"unknown command", f.env(), []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown subcommand", f.env(), []string{"devices", "frob"}, 2, `unknown command "devices frob"`},
		{"no command", f.env(), nil, 2, "no command given"},
		{"missing ref", f.env(), []string{"devices", "show"}, 2, "usage: rosterctl devices show REF"},
		{"extra argument", f.env(), []string{"secrets", "list", "x"}, 2, "usage: rosterctl secrets list"},
		{"unknown flag", f.env(), []string{"devices", "list", "--colour"}, 2, "flag provided but not defined: -colour"},
		{"bad time", f.env(), []string{"history", "--since", "yesterday"}, 2, `--since: "yesterday" is not an RFC 3339 time`},
		{"bad limit", f.env(), []string{"devices", "list", "--limit", "5000"}, 2, "--limit 5000: must be from 1 to 1000"},
		{"version without software", f.env(), []string{"devices", "list", "--software-version", "1"}, 2, "--software-version needs --software"},
		{"missing ca file", map[string]string{"ROSTER_URL": f.url, "ROSTER_TOKEN": "t", "ROSTER_CA": "/nonexistent/ca.pem"}, []string{"devices", "list"}, 1, "read CA certificate"},
		{"untrusted collector", map[string]string{"ROSTER_URL": f.url, "ROSTER_TOKEN": testToken}, []string{"devices", "list"}, 1, "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, tt.env, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if strings.HasSuffix(tt.wantErr, "\n") {
				if r.stderr != tt.wantErr {
					t.Errorf("stderr: got %q, want %q", r.stderr, tt.wantErr)
				}
			} else if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", r.stderr, tt.wantErr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing on failure", r.stdout)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c, err := newClient(Settings{URL: f.url, Token: testToken, CA: f.caFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.do(context.Background(), http.MethodGet, "/api/v1/broken", nil, nil)
	if want := "<html>bad gateway</html> (HTTP 502)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestFingerprintPinning(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testDevices(1))
	other, _, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, fp string
		wantCode int
		wantErr  string
	}{
		{"pinned", f.ca.Fingerprint(), 0, ""},
		{"pinned upper-case bare hex", strings.ToUpper(strings.TrimPrefix(f.ca.Fingerprint(), "sha256:")), 0, ""},
		{"other CA", other.Fingerprint(), 1, "does not match the pinned fingerprint"},
		{"malformed", "sha256:abc", 2, "is not sha256:<64 hex digits>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"ROSTER_URL": f.url, "ROSTER_TOKEN": testToken, "ROSTER_CA_FINGERPRINT": tt.fp}
			r := runCtl(t, env, "devices", "list", "--json")
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfgDir := filepath.Join(home, ".config", "roster")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "ctl.yaml"), []byte("url: https://file.example:8443\ntoken: rst_file\nca_fingerprint: sha256:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	explicit := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(explicit, []byte("url: https://explicit.example\ntoken: rst_explicit\n"), 0o600)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("url: https://x\ntokn: oops\n"), 0o600)

	tests := []struct {
		name    string
		env     map[string]string
		flags   Settings
		cfgFlag string
		want    Settings
		wantErr string
	}{
		{"file", nil, Settings{}, "", Settings{URL: "https://file.example:8443", Token: "rst_file", CAFingerprint: "sha256:00"}, ""},
		{"env over file", map[string]string{"ROSTER_TOKEN": "rst_env", "ROSTER_CA": "/env/ca.pem"}, Settings{}, "",
			Settings{URL: "https://file.example:8443", Token: "rst_env", CA: "/env/ca.pem"}, ""},
		{"flags over env", map[string]string{"ROSTER_TOKEN": "rst_env", "ROSTER_URL": "https://env.example"}, Settings{URL: "https://flag.example", CAFingerprint: "sha256:11"}, "",
			Settings{URL: "https://flag.example", Token: "rst_env", CAFingerprint: "sha256:11"}, ""},
		{"ROSTER_CONFIG", map[string]string{"ROSTER_CONFIG": explicit}, Settings{}, "", Settings{URL: "https://explicit.example", Token: "rst_explicit"}, ""},
		{"--config over ROSTER_CONFIG", map[string]string{"ROSTER_CONFIG": "/nonexistent.yaml"}, Settings{}, explicit, Settings{URL: "https://explicit.example", Token: "rst_explicit"}, ""},
		{"XDG_CONFIG_HOME without a file", map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "ROSTER_URL": "https://x", "ROSTER_TOKEN": "t"}, Settings{}, "", Settings{URL: "https://x", Token: "t"}, ""},
		{"missing explicit file", nil, Settings{}, "/nonexistent.yaml", Settings{}, "read config"},
		{"unknown key", nil, Settings{}, bad, Settings{}, "field tokn not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := Env{HomeDir: home, Getenv: func(k string) string { return tt.env[k] }}
			got, err := resolve(tt.flags, tt.cfgFlag, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSettingsFileEndToEnd uses only ~/.config/roster/ctl.yaml, with flags
// placed before and after the command.
func TestSettingsFileEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testDevices(1))
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config", "roster"), 0o700)
	cfg := fmt.Sprintf("url: %s\ntoken: wrong\nca: %s\n", f.url, f.caFile)
	if err := os.WriteFile(filepath.Join(home, ".config", "roster", "ctl.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, map[string]string{"HOME": home}, "--token", testToken, "devices", "list", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"web-01"`) {
		t.Errorf("global --token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCtl(t, map[string]string{"HOME": home}, "devices", "list", "--token", testToken)
	if r.code != 0 || !strings.Contains(r.stdout, "web-01") {
		t.Errorf("--token after the command: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCtl(t, map[string]string{"HOME": home}, "devices", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "authentication failed") {
		t.Errorf("file token: exit %d, stderr %q, want an authentication failure", r.code, r.stderr)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2024-05-01T10:00:00Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), false},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.AddDate(0, 0, -7), false},
		{"2w", now.AddDate(0, 0, -14), false},
		{"7 days", time.Time{}, true},
		{"-7d", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// A device reports its own hostname and software, so an attacker may put
// terminal escapes, NUL and bidirectional overrides there: every print
// path shows them as visible escapes, and --json keeps them escaped.
func TestEscapesWhatDevicesReport(t *testing.T) {
	t.Parallel()
	const hostname = "evil\x1b]0;pwned\x07\x1b[2J\x00host\t\u202egnp.exe\n"
	const shown = `evil\x1b]0;pwned\x07\x1b[2J\x00host\t\u202egnp.exe\n`
	const osName = "Ubuntu\u009b31m\x7f"
	f := newFixture(t, []map[string]any{{"id": "d1", "hostname": hostname, "platform": "linux", "os_name": osName, "state": "active"}})
	raw := "\x1b\x00\x07\x7f\u202e\u009b"
	for _, args := range [][]string{{"devices", "list"}, {"devices", "show", "d1"}, {"devices", "show", "d1", "--json"}, {"devices", "list", "--json", "--all"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, f.env(), args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if strings.ContainsAny(r.stdout, raw) {
				t.Errorf("got %q, want no raw control or bidirectional character", r.stdout)
			}
			if slices.Contains(args, "--json") {
				var v any
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Fatalf("--json output is not JSON: %v", err)
				}
				if got := fmt.Sprint(v); !strings.Contains(got, hostname) || !strings.Contains(got, osName) {
					t.Errorf("--json decodes to %q, want the hostname %q and OS %q as the device sent them", got, hostname, osName)
				}
				return
			}
			if !strings.Contains(r.stdout, shown) || !strings.Contains(r.stdout, `Ubuntu\u009b31m\x7f`) {
				t.Errorf("got %q, want the hostname shown as %s and the OS as %s", r.stdout, shown, `Ubuntu\u009b31m\x7f`)
			}
			if args[1] == "list" && strings.Count(r.stdout, "\n") != 2 {
				t.Errorf("got %q, want a header and one line for the device", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := runCtl(t, nil, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "devices list") {
		t.Errorf("got exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestNewerCollector: an answer with a field this rosterctl's types do not
// know (a newer collector's additive change) still prints, and --json
// passes it on as it came.
func TestNewerCollector(t *testing.T) {
	t.Parallel()
	ds := testDevices(1)
	ds[0]["added_in_a_later_version"] = map[string]any{"x": 1}
	f := newFixture(t, ds)
	r := runCtl(t, f.env(), "devices", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "web-01") {
		t.Fatalf("devices list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCtl(t, f.env(), "--json", "devices", "list")
	if r.code != 0 || !strings.Contains(r.stdout, `"added_in_a_later_version"`) {
		t.Errorf("devices list --json dropped the unknown field: exit %d, stdout %q", r.code, r.stdout)
	}
}
