package api_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

const apiPolicies = `policies:
  - id: API-ENC-01
    title: system volume encrypted
    severity: high
    kind: disk_encryption
    params:
      scope: system
`

type policiesOut struct {
	Set        registry.PolicySetRecord `json:"set"`
	Items      []map[string]any         `json:"items"`
	Evaluation *registry.EvalStats      `json:"evaluation"`
}

// reportedDevice enrols and reports a real captured snapshot over the API.
func (f *fixture) reportedDevice(t *testing.T) agent {
	t.Helper()
	// One named capture (this project's own VM, unencrypted system
	// volume), not the first match in a map: the pinned responses
	// (TestResponseJSONPinned) are this device's.
	const host = "linux/debian12-firecracker-vm"
	cand := registrytest.Snapshots(t)[host]
	if cand == nil || cand.Encryption == nil || cand.Encryption.System.Encrypted != wire.No || cand.Hardware == nil {
		t.Fatalf("captured host %s is missing or no longer has an unencrypted system volume", host)
	}
	s := registrytest.Clone(t, cand)
	a := f.enroll(t, f.newSecret(t, "").Secret, wire.IdentityOf(s))
	if ack := f.report(t, a, fullReport(t, s, 1)); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v", ack)
	}
	return a
}

func TestPoliciesAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	a := f.reportedDevice(t)
	c := f.client(t, nil)
	auth := map[string]string{"Authorization": "Bearer " + f.token}
	put := func(body, ct string) response {
		return f.do(t, c, http.MethodPut, "/api/v1/policies", []byte(body), map[string]string{"Authorization": auth["Authorization"], "Content-Type": ct})
	}

	got := decode[policiesOut](t, f.admin(t, "GET", "/api/v1/policies", nil), http.StatusOK)
	if got.Set.Source != registry.PolicySourceDefault || len(got.Items) == 0 {
		t.Errorf("default set: %+v with %d policies", got.Set, len(got.Items))
	}

	refusals := []struct {
		name, body, ct string
		status         int
		code           string
	}{
		{"unknown key", strings.Replace(apiPolicies, "severity", "sevrity", 1), "application/yaml", http.StatusBadRequest, "invalid_policies"},
		{"bad CEL", "policies:\n  - id: API-X-01\n    title: x\n    severity: low\n    kind: cel\n    expr: os.verison == \"1\"\n", "application/yaml", http.StatusBadRequest, "invalid_policies"},
		{"not YAML", "{{{", "application/yaml", http.StatusBadRequest, "invalid_policies"},
		{"wrong type", apiPolicies, "text/plain", http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"too large", "policies: []\n#" + strings.Repeat("x", 1<<20), "application/yaml", http.StatusRequestEntityTooLarge, "too_large"},
	}
	for _, tt := range refusals {
		r := put(tt.body, tt.ct)
		if r.status != tt.status || r.errCode(t) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	if got := decode[policiesOut](t, f.admin(t, "GET", "/api/v1/policies", nil), http.StatusOK); got.Set.Source != registry.PolicySourceDefault {
		t.Errorf("a refused PUT changed the set: %+v", got.Set)
	}
	// A read-only token may read but not change.
	_, ro, err := f.reg.CreateToken(t.Context(), registry.TokenInput{Principal: "helpdesk", Role: "helpdesk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, c, http.MethodPut, "/api/v1/policies", []byte(apiPolicies), map[string]string{"Authorization": "Bearer " + ro}); r.status != http.StatusForbidden {
		t.Errorf("PUT with a reader token: %d, want 403", r.status)
	}

	out := decode[policiesOut](t, put(apiPolicies, "application/yaml"), http.StatusOK)
	if out.Set.Source != registry.PolicySourceAPI || out.Set.CreatedBy != "test" || len(out.Items) != 1 || out.Evaluation == nil || out.Evaluation.Devices != 1 {
		t.Errorf("PUT: %+v", out)
	}
	if p := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/policies/API-ENC-01", nil), http.StatusOK); p["kind"] != "disk_encryption" {
		t.Errorf("GET policy: %v", p)
	}
	if r := f.admin(t, "GET", "/api/v1/policies/CFG-ENC-01", nil); r.status != http.StatusNotFound {
		t.Errorf("GET a replaced policy: %d, want 404", r.status)
	}

	// The device view carries the result, and the summary counts it.
	dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID, nil), http.StatusOK)
	comp, _ := dev["compliance"].(map[string]any)
	results, _ := comp["results"].([]any)
	if comp["state"] != "fail" || len(results) != 1 || !strings.Contains(results[0].(map[string]any)["reason"].(string), "not encrypted") {
		t.Errorf("device compliance %v, want API-ENC-01 failing: not encrypted", comp)
	}
	sum := decode[registry.ComplianceSummary](t, f.admin(t, "GET", "/api/v1/compliance/summary", nil), http.StatusOK)
	if sum.Devices != 1 || sum.ByState["fail"] != 1 || len(sum.Policies) != 1 || sum.Policies[0].Counts["fail"] != 1 {
		t.Errorf("summary %+v", sum)
	}
}

func TestExceptionsAndEventsAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	a := f.reportedDevice(t)
	if r := f.do(t, f.client(t, nil), http.MethodPut, "/api/v1/policies", []byte(apiPolicies),
		map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/yaml"}); r.status != http.StatusOK {
		t.Fatalf("PUT policies: %d %s", r.status, r.body)
	}
	good := map[string]any{"policy_id": "API-ENC-01", "device": a.deviceID, "reason": "lab VM", "compensating_control": "no data", "expires_in": "2d"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	refusals := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no expiry", with("expires_in", nil), http.StatusBadRequest, "bad_request"},
		{"two expiries", with("expires_at", "2030-01-01"), http.StatusBadRequest, "bad_request"},
		{"past the maximum", with("expires_in", "400d"), http.StatusBadRequest, "bad_parameter"},
		{"unknown policy", with("policy_id", "NOPE-01"), http.StatusBadRequest, "bad_parameter"},
		{"no control", with("compensating_control", nil), http.StatusBadRequest, "bad_parameter"},
		{"unknown field", with("approved_by", "x"), http.StatusBadRequest, "unknown_field"},
		{"a typed approver", with("approver", "ciso"), http.StatusBadRequest, "unknown_field"},
		{"unknown device", with("device", "no-such-host"), http.StatusNotFound, "not_found"},
	}
	for _, tt := range refusals {
		r := f.admin(t, "POST", "/api/v1/exceptions", tt.body)
		if r.status != tt.status || r.errCode(t) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	ex := decode[registry.ExceptionRecord](t, f.admin(t, "POST", "/api/v1/exceptions", good), http.StatusCreated)
	if ex.Status != registry.ExceptionPending || ex.RequestedBy != "test" || ex.DeviceID != a.deviceID {
		t.Errorf("created %+v", ex)
	}
	// Another admin approves it.
	_, approver, err := f.reg.CreateToken(t.Context(), registry.TokenInput{Principal: "approver", Role: "admin"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ex = decode[registry.ExceptionRecord](t, f.do(t, f.client(t, nil), "POST", "/api/v1/exceptions/"+ex.ID+"/approve", nil,
		map[string]string{"Authorization": "Bearer " + approver}), http.StatusOK)
	if ex.Status != registry.ExceptionActive || ex.Approver != "approver" {
		t.Errorf("approved %+v", ex)
	}
	state := func() string {
		dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID, nil), http.StatusOK)
		return dev["compliance"].(map[string]any)["state"].(string)
	}
	if s := state(); s != "exempt" {
		t.Errorf("with the exception: %s, want exempt", s)
	}
	list := decode[struct {
		Items []registry.ExceptionRecord `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/exceptions?active=true&device="+a.deviceID, nil), http.StatusOK)
	if len(list.Items) != 1 || list.Items[0].ID != ex.ID {
		t.Errorf("active exceptions %+v", list.Items)
	}
	if r := f.admin(t, "GET", "/api/v1/exceptions?active=yes", nil); r.status != http.StatusBadRequest {
		t.Errorf("active=yes: %d, want 400", r.status)
	}
	rv := decode[registry.ExceptionRecord](t, f.admin(t, "DELETE", "/api/v1/exceptions/"+ex.ID, nil), http.StatusOK)
	if rv.Status != registry.ExceptionRevoked || state() != "fail" {
		t.Errorf("revoked %+v, state %s; want revoked and fail", rv, state())
	}

	type eventList struct {
		Items      []registry.EventRecord `json:"items"`
		NextCursor string                 `json:"next_cursor"`
	}
	evs := decode[eventList](t, f.admin(t, "GET", "/api/v1/events?kind=compliance.changed&device="+a.deviceID, nil), http.StatusOK)
	// default (first report) → exempt → fail again; the PUT's set is
	// announced once for the fleet.
	if len(evs.Items) != 3 {
		t.Errorf("compliance.changed events: %d, want 3", len(evs.Items))
	}
	fleet := decode[eventList](t, f.admin(t, "GET", "/api/v1/events?kind=compliance.fleet_changed", nil), http.StatusOK)
	if len(fleet.Items) != 1 || fleet.Items[0].DeviceID != "" {
		t.Errorf("compliance.fleet_changed events %+v, want one for the PUT, of no device", fleet.Items)
	}
	page1 := decode[eventList](t, f.admin(t, "GET", "/api/v1/events?limit=2", nil), http.StatusOK)
	page2 := decode[eventList](t, f.admin(t, "GET", "/api/v1/events?limit=2&cursor="+page1.NextCursor, nil), http.StatusOK)
	if len(page1.Items) != 2 || page1.NextCursor == "" || len(page2.Items) == 0 || page2.Items[0].N <= page1.Items[1].N {
		t.Errorf("paging: %+v then %+v", page1, page2)
	}
	for _, bad := range []string{"kind=nope", "since=yesterday", "colour=red"} {
		if r := f.admin(t, "GET", "/api/v1/events?"+bad, nil); r.status != http.StatusBadRequest || r.errCode(t) != "bad_parameter" {
			t.Errorf("events?%s: %d %s, want 400 bad_parameter", bad, r.status, r.body)
		}
	}
}

type offsetClock struct{ d time.Duration }

func (c *offsetClock) SetOffset(d time.Duration) { c.d = d }
func (c *offsetClock) Offset() time.Duration     { return c.d }

func TestTestClockOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	off := newFixture(t, tls.RequestClientCert)
	if r := off.admin(t, "PUT", "/api/v1/test/clock", map[string]string{"offset": "3d"}); r.status != http.StatusNotFound {
		t.Errorf("without a test clock: %d, want 404", r.status)
	}
	tc := &offsetClock{}
	on := newFixture(t, tls.RequestClientCert, func(o *api.Options) { o.TestClock = tc })
	if r := on.admin(t, "PUT", "/api/v1/test/clock", map[string]string{"offset": "-2h"}); r.status != http.StatusOK || tc.d != -2*time.Hour {
		t.Errorf("with a test clock: %d %s, offset %s; want 200 and -2h", r.status, r.body, tc.d)
	}
	if r := on.admin(t, "PUT", "/api/v1/test/clock", map[string]string{"offset": "soon"}); r.status != http.StatusBadRequest {
		t.Errorf("bad offset: %d, want 400", r.status)
	}
}
