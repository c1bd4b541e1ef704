package ctl

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// deviceAdminAPI answers merge and allow-reenroll as the collector does
// and keeps what rosterctl sent.
type deviceAdminAPI struct {
	mu       sync.Mutex
	requests []string // "METHOD PATH BODY"
}

func (f *deviceAdminAPI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *deviceAdminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.EscapedPath()+" "+strings.TrimSpace(string(b)))
	f.mu.Unlock()
	var body map[string]string
	_ = json.Unmarshal(b, &body)
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/devices/new-1/merge" && body["into"] == "old-1":
		writeJSON(w, 200, map[string]any{
			"device": map[string]any{"id": "new-1", "hostname": "laptop-7", "state": "active", "flags": []string{}},
			"merged": map[string]any{"id": "old-1", "state": "revoked", "merged_into": "new-1"},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/devices/new-1/merge":
		writeErr(w, 409, "conflict", "merge conflict: wipe w-1 is under way for "+body["into"]+"; cancel it (or let it finish) before merging")
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/devices/old-1/allow-reenroll":
		if body["within"] == "45d" {
			writeErr(w, 400, "bad_request", "allow re-enrolment: within 1080h0m0s: want a minute to 720h0m0s")
			return
		}
		writeJSON(w, 200, map[string]any{"id": "old-1", "hostname": "laptop-7", "state": "active", "reenroll_allowed_until": "2024-05-10T13:00:00Z"})
	default:
		writeErr(w, 404, "not_found", r.URL.Path)
	}
}

func TestDevicesMergeAndAllowReenroll(t *testing.T) {
	t.Parallel()
	api := &deviceAdminAPI{}
	env := wipeServer(t, api)
	tests := []struct {
		name       string
		args       []string
		code       int
		request    string // what the collector must have received ("" none)
		wantOut    []string
		wantErrOut string
	}{
		{name: "merge", args: []string{"devices", "merge", "new-1", "--into", "old-1"},
			request: `POST /api/v1/devices/new-1/merge {"into":"old-1"}`,
			wantOut: []string{"old-1 continues as new-1 (revoked, merged_into new-1); identity conflict cleared", "hostname:", "laptop-7"}},
		{name: "merge json", args: []string{"devices", "merge", "new-1", "--into", "old-1", "--json"},
			request: `POST /api/v1/devices/new-1/merge {"into":"old-1"}`,
			wantOut: []string{`"merged_into": "new-1"`}},
		{name: "merge refused while a wipe is under way", args: []string{"devices", "merge", "new-1", "--into", "old-2"}, code: 1,
			request: `POST /api/v1/devices/new-1/merge {"into":"old-2"}`, wantErrOut: "wipe w-1 is under way"},
		{name: "merge without --into", args: []string{"devices", "merge", "new-1"}, code: exitUsage, wantErrOut: "--into"},
		{name: "merge without a device", args: []string{"devices", "merge", "--into", "old-1"}, code: exitUsage},
		{name: "allow-reenroll", args: []string{"devices", "allow-reenroll", "old-1", "--within", "1h"},
			request: `POST /api/v1/devices/old-1/allow-reenroll {"within":"1h"}`,
			wantOut: []string{"reenroll_allowed_until:", "2024-05-10T13:00:00Z"}},
		{name: "allow-reenroll default window", args: []string{"devices", "allow-reenroll", "old-1"},
			request: `POST /api/v1/devices/old-1/allow-reenroll {"within":"24h"}`},
		{name: "allow-reenroll beyond the maximum", args: []string{"devices", "allow-reenroll", "old-1", "--within", "45d"}, code: 1,
			request: `POST /api/v1/devices/old-1/allow-reenroll {"within":"45d"}`, wantErrOut: "want a minute to"},
	}
	// The cases share one server, so they run in order.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(api.seen())
			res := runCtl(t, env, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", res.code, tt.code, res.stdout, res.stderr)
			}
			got := api.seen()[before:]
			switch {
			case tt.request == "" && len(got) != 0:
				t.Errorf("sent %q, want no request", got)
			case tt.request != "" && (len(got) != 1 || got[0] != tt.request):
				t.Errorf("sent %q, want %q", got, tt.request)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, res.stdout)
				}
			}
			if tt.wantErrOut != "" && !strings.Contains(res.stderr, tt.wantErrOut) {
				t.Errorf("stderr %q, want it to mention %q", res.stderr, tt.wantErrOut)
			}
		})
	}
}
