package api_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// as calls the API with a token of its own.
func (f *fixture) as(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	var b []byte
	if body != nil {
		b = marshal(t, body)
	}
	return f.do(t, f.client(t, nil), method, path, b, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"})
}

// tokenFor makes a token for a new principal with role.
func (f *fixture) tokenFor(t *testing.T, principal, role, kind string) string {
	t.Helper()
	_, tok, err := f.reg.CreateToken(t.Context(), registry.TokenInput{Principal: principal, Role: role, Kind: kind}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deniedAudit counts the audit log's denied entries for target and action.
func (f *fixture) deniedAudit(t *testing.T, target, action string) int {
	t.Helper()
	entries, _, err := f.reg.ListAudit(t.Context(), registry.AuditFilter{Target: target, Action: action})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Outcome == "denied" {
			n++
		}
	}
	return n
}

func TestExceptionSeparationOverAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.RequestClientCert)
	a := f.reportedDevice(t)
	if r := f.do(t, f.client(t, nil), http.MethodPut, "/api/v1/policies", []byte(apiPolicies),
		map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/yaml"}); r.status != http.StatusOK {
		t.Fatalf("PUT policies: %d %s", r.status, r.body)
	}
	alice := f.tokenFor(t, "alice", "helpdesk", "")
	dan := f.tokenFor(t, "dan", "helpdesk", "")
	bob := f.tokenFor(t, "bob", "admin", "")
	carol := f.tokenFor(t, "carol", "admin", "")
	erin := f.tokenFor(t, "erin", "auditor", "")
	runbook := f.tokenFor(t, "runbook", "automation", "automation")
	body := map[string]any{"policy_id": "API-ENC-01", "device": a.deviceID, "reason": "lab VM", "compensating_control": "no data", "expires_in": "2d"}
	state := func() string {
		dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID, nil), http.StatusOK)
		return dev["compliance"].(map[string]any)["state"].(string)
	}

	// Who may request.
	for _, tt := range []struct {
		name, token string
		status      int
	}{{"auditor", erin, http.StatusForbidden}, {"automation", runbook, http.StatusForbidden}} {
		if r := f.as(t, tt.token, "POST", "/api/v1/exceptions", body); r.status != tt.status {
			t.Errorf("request as %s: %d %s, want %d", tt.name, r.status, r.body, tt.status)
		}
	}
	typed := map[string]any{"approver": "ciso"}
	for k, v := range body {
		typed[k] = v
	}
	if r := f.as(t, alice, "POST", "/api/v1/exceptions", typed); r.status != http.StatusBadRequest || r.errCode(t) != "unknown_field" ||
		!strings.Contains(string(r.body), "/approve") {
		t.Errorf("a typed approver: %d %s, want 400 unknown_field saying how approval works", r.status, r.body)
	}

	// A helpdesk request is pending and exempts nothing.
	ex := decode[registry.ExceptionRecord](t, f.as(t, alice, "POST", "/api/v1/exceptions", body), http.StatusCreated)
	if ex.Status != registry.ExceptionPending || ex.RequestedBy != "alice" || ex.RequestedByID == "" || ex.Approver != "" {
		t.Errorf("requested %+v, want pending by alice", ex)
	}
	if s := state(); s != "fail" {
		t.Errorf("with a pending exception: %s, want fail", s)
	}

	decisions := []struct {
		name, token, verb string
		status            int
		code              string
	}{
		{"helpdesk cannot approve", dan, "approve", http.StatusForbidden, "forbidden"},
		{"the requester cannot approve her own", alice, "approve", http.StatusForbidden, "forbidden"},
		{"auditor cannot approve", erin, "approve", http.StatusForbidden, "forbidden"},
		{"automation cannot approve", runbook, "approve", http.StatusForbidden, "forbidden"},
		{"another admin approves", bob, "approve", http.StatusOK, ""},
		{"approved twice", carol, "approve", http.StatusBadRequest, "bad_parameter"},
	}
	for _, tt := range decisions {
		r := f.as(t, tt.token, "POST", "/api/v1/exceptions/"+ex.ID+"/"+tt.verb, map[string]any{"note": "SEC-1"})
		if r.status != tt.status || (tt.code != "" && r.errCode(t) != tt.code) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	got := decode[registry.ExceptionRecord](t, f.as(t, dan, "GET", "/api/v1/exceptions/"+ex.ID, nil), http.StatusOK)
	if got.Status != registry.ExceptionActive || got.Approver != "bob" || got.ApproverID == "" || got.ApproverID == got.RequestedByID || got.DecisionNote != "SEC-1" {
		t.Errorf("after approval %+v, want active, approved by bob", got)
	}
	if s := state(); s != "exempt" {
		t.Errorf("with the approved exception: %s, want exempt", s)
	}

	// An admin's own request: approving or denying it is refused, with a
	// reason a person understands, audited, and changes nothing.
	own := decode[registry.ExceptionRecord](t, f.as(t, bob, "POST", "/api/v1/exceptions", body), http.StatusCreated)
	for _, verb := range []string{"approve", "deny"} {
		r := f.as(t, bob, "POST", "/api/v1/exceptions/"+own.ID+"/"+verb, nil)
		if r.status != http.StatusForbidden || r.errCode(t) != "separation_of_duties" || !strings.Contains(string(r.body), "you (bob) requested this exception") ||
			!strings.Contains(string(r.body), "someone else") {
			t.Errorf("%s own request: %d %s, want 403 separation_of_duties", verb, r.status, r.body)
		}
	}
	if n := f.deniedAudit(t, "exception:"+own.ID, "exception.*"); n != 2 {
		t.Errorf("denied audit entries for the own approval and denial: %d, want 2", n)
	}
	if e := decode[registry.ExceptionRecord](t, f.admin(t, "GET", "/api/v1/exceptions/"+own.ID, nil), http.StatusOK); e.Status != registry.ExceptionPending {
		t.Errorf("a refused decision changed it: %+v", e)
	}
	denied := decode[registry.ExceptionRecord](t, f.as(t, carol, "POST", "/api/v1/exceptions/"+own.ID+"/deny", nil), http.StatusOK)
	if denied.Status != registry.ExceptionDenied || denied.DeniedBy != "carol" || denied.Approver != "" {
		t.Errorf("denied %+v", denied)
	}

	type exList struct {
		Items []registry.ExceptionRecord `json:"items"`
	}
	for status, want := range map[string]string{"pending": "", "active": ex.ID, "denied": own.ID, "expired": "", "revoked": ""} {
		l := decode[exList](t, f.as(t, alice, "GET", "/api/v1/exceptions?status="+status, nil), http.StatusOK)
		if (want == "" && len(l.Items) != 0) || (want != "" && (len(l.Items) != 1 || l.Items[0].ID != want)) {
			t.Errorf("status=%s: %+v, want %q", status, l.Items, want)
		}
	}
	if r := f.admin(t, "GET", "/api/v1/exceptions?status=approved", nil); r.status != http.StatusBadRequest || r.errCode(t) != "bad_parameter" {
		t.Errorf("status=approved: %d %s, want 400", r.status, r.body)
	}
	if r := f.as(t, alice, "DELETE", "/api/v1/exceptions/"+ex.ID, nil); r.status != http.StatusForbidden {
		t.Errorf("helpdesk revoke: %d, want 403", r.status)
	}
	if rv := decode[registry.ExceptionRecord](t, f.as(t, carol, "DELETE", "/api/v1/exceptions/"+ex.ID, nil), http.StatusOK); rv.Status != registry.ExceptionRevoked || state() != "fail" {
		t.Errorf("revoked %+v, state %s", rv, state())
	}
}

func TestManualWipeRecordOverAPI(t *testing.T) {
	t.Parallel()
	evidence := base64.StdEncoding.EncodeToString([]byte("Blancco report: erased OK\n"))
	record := func(performer, verifier, ev string) map[string]any {
		m := map[string]any{"method": "crypto erase", "tool": "Blancco", "performed_by": performer, "verified_by": verifier, "evidence_name": "report.txt"}
		if ev != "" {
			m["evidence"] = ev
		}
		return m
	}
	for _, single := range []bool{false, true} {
		t.Run(map[bool]string{false: "two people", true: "single person allowed"}[single], func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tls.RequestClientCert)
			f.reg.AllowSinglePersonWipes(single)
			a := f.reportedDevice(t)
			bob := f.tokenFor(t, "bob", "admin", "")
			carol := f.tokenFor(t, "carol", "admin", "")
			runbook := f.tokenFor(t, "runbook", "automation", "automation")
			w := decode[registry.Wipe](t, f.as(t, bob, "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "HR-1", "reason": "leaver", "method": "manual"}), http.StatusCreated)
			path := "/api/v1/wipes/" + w.ID + "/record"
			type refusal struct {
				name, token string
				body        map[string]any
				status      int
				code        string
			}
			refusals := []refusal{
				{"automation", runbook, record("Bob", "Carol", evidence), http.StatusForbidden, "forbidden"},
				{"no evidence", carol, record("Bob", "Carol", ""), http.StatusBadRequest, "bad_parameter"},
			}
			if !single {
				refusals = append(refusals,
					refusal{"same performer and verifier", carol, record("Bob", " BOB ", evidence), http.StatusBadRequest, "bad_parameter"},
					refusal{"recorded by who started it", bob, record("Bob", "Carol", evidence), http.StatusForbidden, "separation_of_duties"})
			}
			for _, tt := range refusals {
				r := f.as(t, tt.token, "POST", path, tt.body)
				if r.status != tt.status || r.errCode(t) != tt.code {
					t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
				}
			}
			if got := decode[registry.Wipe](t, f.admin(t, "GET", "/api/v1/wipes/"+w.ID, nil), http.StatusOK); got.State != registry.WipeRequested {
				t.Errorf("refusals changed the wipe: %s", got.State)
			}
			if n, want := f.deniedAudit(t, "wipe:"+w.ID, "wipe.recorded"), len(refusals)-1; n != want {
				t.Errorf("denied wipe.recorded entries %d, want %d (the guard's refusal of automation is request.denied)", n, want)
			}

			// Two people, recorded by someone else; or, when allowed, bob alone.
			by, body := carol, record("Bob", "Carol", evidence)
			if single {
				by, body = bob, record("Bob", "bob", evidence)
			}
			got := decode[registry.Wipe](t, f.as(t, by, "POST", path, body), http.StatusOK)
			if got.State != registry.WipeCompleted || got.EvidenceSHA256 == "" || (got.SinglePerson != "") != single {
				t.Errorf("recorded %+v", got)
			}
			sc := decode[wire.SignedCertificate](t, f.admin(t, "GET", "/api/v1/wipes/"+w.ID+"/certificate", nil), http.StatusOK)
			var cert registry.SanitisationCertificate
			if err := json.Unmarshal(sc.Certificate, &cert); err != nil {
				t.Fatal(err)
			}
			if cert.SinglePersonOperation != single || cert.EvidenceSHA256 != got.EvidenceSHA256 {
				t.Errorf("certificate single_person_operation %v, evidence %s; want %v, %s", cert.SinglePersonOperation, cert.EvidenceSHA256, single, got.EvidenceSHA256)
			}
			page := f.admin(t, "GET", "/api/v1/wipes/"+w.ID+"/certificate?format=html", nil)
			if strings.Contains(string(page.body), "Single-person operation") != single {
				t.Errorf("HTML certificate mentions single-person operation: %v, want %v", !single, single)
			}
		})
	}
}
