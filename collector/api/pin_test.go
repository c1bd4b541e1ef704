package api_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Values that differ from run to run, each replaced by a placeholder of
// its kind so what is pinned is every key, its order and its type.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), `<time>`},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), `<uuid>`},
	{regexp.MustCompile(`"rst_[A-Za-z0-9_-]+"`), `"<token>"`},
	{regexp.MustCompile(`\b[0-9a-f]{16,}\b`), `<hex>`},
	{regexp.MustCompile(`"[A-Za-z0-9+/]{40,}={0,2}"`), `"<base64>"`},
	{regexp.MustCompile(`"(cert_serial|serial)":"[0-9]+"`), `"$1":"<serial>"`},
	{regexp.MustCompile(`"(n|seq|id|last_report_seq)":[0-9]+`), `"$1":0`},
}

func normalise(b []byte) []byte {
	for _, v := range volatile {
		b = v.re.ReplaceAll(b, []byte(v.with))
	}
	return b
}

// TestResponseJSONPinned: the JSON the API answered before its responses
// had types of their own (testdata/pinned, captured from the handlers
// that encoded the registry's structs), key for key and in the same order,
// so agents, scripts and rosterctl built against it keep working.
// UPDATE_GOLDEN=1 rewrites the files.
func TestResponseJSONPinned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	a := f.reportedDevice(t)
	if r := f.do(t, f.client(t, nil), http.MethodPut, "/api/v1/policies", []byte(apiPolicies),
		map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/yaml"}); r.status != http.StatusOK {
		t.Fatalf("PUT policies: %d %s", r.status, r.body)
	}
	setup := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/assets", map[string]any{"asset_tag": "LAP-1", "serial": "SN-PIN-1", "owner": "Ada", "status": "in_service", "tags": []string{"lab"}}},
		{"POST", "/api/v1/assets/LAP-1/link", map[string]any{"device": a.deviceID}},
		{"POST", "/api/v1/assets", map[string]any{"asset_tag": "LAP-2", "owner": "Bob", "status": "in_service"}},
		{"POST", "/api/v1/exceptions", map[string]any{"policy_id": "API-ENC-01", "device": a.deviceID, "reason": "lab VM", "compensating_control": "no data", "expires_in": "2d"}},
		{"POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "HR-1", "reason": "leaver"}},
		{"POST", "/api/v1/tokens", map[string]any{"principal": "ci-bot", "role": "automation", "kind": "automation"}},
	}
	var wipeID string
	for _, s := range setup {
		r := f.admin(t, s.method, s.path, s.body)
		if r.status >= 300 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, r.status, r.body)
		}
		if s.path == "/api/v1/wipes" {
			wipeID = decodeLoose[struct {
				ID string `json:"id"`
			}](t, r, http.StatusCreated).ID
		}
	}
	for name, path := range map[string]string{
		"devices":            "/api/v1/devices",
		"device":             "/api/v1/devices/" + a.deviceID,
		"secrets":            "/api/v1/secrets",
		"asset":              "/api/v1/assets/LAP-1",
		"reconcile":          "/api/v1/reconcile",
		"exceptions":         "/api/v1/exceptions",
		"wipe":               "/api/v1/wipes/" + wipeID,
		"compliance_summary": "/api/v1/compliance/summary",
		"tokens":             "/api/v1/tokens?principal=ci-bot",
		"audit_verify":       "/api/v1/audit/verify",
	} {
		r := f.admin(t, "GET", path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		got := normalise(bytes.TrimSpace(r.body))
		file := filepath.Join("testdata", "pinned", name+".json")
		if os.Getenv("UPDATE_GOLDEN") != "" {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(strings.Split(string(bytes.TrimSpace(want)), ","), strings.Split(string(got), ",")); d != "" {
			t.Errorf("GET %s answers other JSON than before (-want +got):\n%s", path, d)
		}
	}
}
