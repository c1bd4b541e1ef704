package api_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// responseSchema compiles the schema the served document gives the
// success response of method path (as routes() spells it).
func responseSchema(t *testing.T, c *jsonschema.Compiler, method, path, status string) *jsonschema.Schema {
	t.Helper()
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	loc := "mem://openapi.json#/paths/" + esc.Replace(path) + "/" + strings.ToLower(method) + "/responses/" + status + "/content/application~1json/schema"
	s, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	return s
}

// TestOpenAPIResponses: what real handlers answer validates against the
// schema the served document declares for them, and a body of another
// type does not.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	res := f.do(t, f.client(t, nil), "GET", "/api/v1/openapi.json", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without a token: %d %s", res.status, res.body)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://openapi.json", doc); err != nil {
		t.Fatal(err)
	}

	a := f.reportedDevice(t)
	if r := f.do(t, f.client(t, nil), http.MethodPut, "/api/v1/policies", []byte(apiPolicies),
		map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/yaml"}); r.status != http.StatusOK {
		t.Fatalf("PUT policies: %d %s", r.status, r.body)
	}
	calls := []struct {
		method, route, path string
		body                any
		status              string
	}{
		{"GET", "/api/v1/devices", "/api/v1/devices", nil, "200"},
		{"GET", "/api/v1/devices/{ref}", "/api/v1/devices/" + a.deviceID, nil, "200"},
		{"POST", "/api/v1/tokens", "/api/v1/tokens", map[string]any{"principal": "ci-bot", "role": "automation", "kind": "automation"}, "201"},
		{"POST", "/api/v1/exceptions", "/api/v1/exceptions",
			map[string]any{"policy_id": "API-ENC-01", "device": a.deviceID, "reason": "lab VM", "compensating_control": "no data", "expires_in": "2d"}, "201"},
		{"GET", "/api/v1/exceptions", "/api/v1/exceptions", nil, "200"},
		{"POST", "/api/v1/wipes", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "HR-1", "reason": "leaver"}, "201"},
		{"GET", "/api/v1/audit", "/api/v1/audit?limit=50", nil, "200"},
		{"GET", "/api/v1/whoami", "/api/v1/whoami", nil, "200"},
		{"GET", "/healthz", "/healthz", nil, "200"},
	}
	bodies := map[string]any{}
	for _, call := range calls {
		r := f.admin(t, call.method, call.path, call.body)
		if strconv.Itoa(r.status) != call.status {
			t.Fatalf("%s %s: %d %s, want %s", call.method, call.path, r.status, r.body, call.status)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		bodies[call.method+" "+call.route] = v
		if err := responseSchema(t, c, call.method, call.route, call.status).Validate(v); err != nil {
			t.Errorf("%s %s answers what its schema refuses: %v\n%s", call.method, call.path, err, r.body)
		}
	}
	// A field added to an answer later breaks no client validating it.
	if dev, ok := bodies["GET /api/v1/devices/{ref}"].(map[string]any); ok {
		dev["added_in_a_later_version"] = "x"
		if err := responseSchema(t, c, "GET", "/api/v1/devices/{ref}", "200").Validate(dev); err != nil {
			t.Errorf("a device with one more field does not validate: %v", err)
		}
	}
	// The schemas are strict enough to tell one answer from another.
	if err := responseSchema(t, c, "GET", "/api/v1/devices/{ref}", "200").Validate(bodies["POST /api/v1/tokens"]); err == nil {
		t.Error("a created token validates as a device: the schema checks nothing")
	}
	if err := responseSchema(t, c, "POST", "/api/v1/wipes", "201").Validate(bodies["POST /api/v1/exceptions"]); err == nil {
		t.Error("an exception validates as a wipe: the schema checks nothing")
	}
}

// TestContractQueryParams: a route refuses a query parameter its contract
// does not declare and takes the ones it does.
func TestContractQueryParams(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.NoClientCert)
	for _, tt := range []struct {
		path    string
		refused bool
	}{
		{"/api/v1/devices?limit=5&hostname=a", false},
		{"/api/v1/devices?hostnme=a", true},
		{"/api/v1/register/history?asset=T-1", false},
		{"/api/v1/assets/T-1/history?asset=T-1", true},
		{"/api/v1/compliance/summary?x=1", true},
		{"/api/v1/wipes/no-such/certificate?fmt=html", true},
		{"/api/v1/audit?cursor=0&limit=10&action=token.*", false},
	} {
		r := f.admin(t, "GET", tt.path, nil)
		refused := r.status == http.StatusBadRequest && r.errCode(t) == "bad_parameter"
		if refused != tt.refused {
			t.Errorf("GET %s: %d %s, want refused %v", tt.path, r.status, r.body, tt.refused)
		}
	}
}
