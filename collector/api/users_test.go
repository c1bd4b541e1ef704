package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/apitypes"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestUsersAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.NoClientCert)
	ctx := context.Background()

	// Create, with a clear 400 for a password the rule refuses.
	for _, tt := range []struct {
		body any
		code string
		says string
	}{
		{map[string]any{"name": "alice", "role": "helpdesk", "password": "short1"}, "bad_parameter", "too short: at least 12 characters"},
		{map[string]any{"name": "alice", "role": "helpdesk", "password": "ALICE"}, "bad_parameter", "too short"},
		{map[string]any{"name": "alice.example", "role": "helpdesk", "password": "Alice.Example"}, "bad_parameter", "must not be the user name"},
		{map[string]any{"name": "alice", "role": "helpdesk"}, "bad_request", "a password is required"},
		{map[string]any{"name": "alice", "role": "helpdesk", "password": "long enough pass", "generate": true}, "bad_request", "not both"},
		{map[string]any{"name": "alice", "role": "root", "password": "long enough pass"}, "bad_parameter", "role"},
		{map[string]any{"name": "alice", "role": "helpdesk", "password": "long enough pass", "totp": true}, "unknown_field", "totp"},
	} {
		r := f.admin(t, "POST", "/api/v1/users", tt.body)
		if r.status != http.StatusBadRequest || r.errCode(t) != tt.code || !strings.Contains(string(r.body), tt.says) {
			t.Errorf("POST /users %v: %d %s, want 400 %s saying %q", tt.body, r.status, r.body, tt.code, tt.says)
		}
	}
	created := decode[apitypes.UserCreated](t, f.admin(t, "POST", "/api/v1/users",
		map[string]any{"name": "alice", "email": "alice@example.org", "role": "helpdesk", "password": "correct horse battery"}), http.StatusCreated)
	if u := created.User; u.Name != "alice" || u.Role != "helpdesk" || !u.HasPassword || u.TOTP || u.Source != "local" || created.Password != "" {
		t.Errorf("created %+v", created)
	}
	if r := f.admin(t, "POST", "/api/v1/users", map[string]any{"name": "alice", "role": "admin", "password": "correct horse battery"}); r.status != http.StatusConflict {
		t.Errorf("a second alice: %d %s, want 409", r.status, r.body)
	}
	gen := decode[apitypes.UserCreated](t, f.admin(t, "POST", "/api/v1/users", map[string]any{"name": "bob", "role": "auditor", "generate": true}), http.StatusCreated)
	if len(gen.Password) < 12 {
		t.Fatalf("generated password %q", gen.Password)
	}
	if _, err := f.reg.SignIn(ctx, "bob", gen.Password, "", f.clock.Now()); err != nil {
		t.Errorf("sign in with the generated password: %v", err)
	}

	list := decode[apitypes.List[apitypes.User]](t, f.admin(t, "GET", "/api/v1/users", nil), http.StatusOK)
	names := []string{}
	for _, u := range list.Items {
		names = append(names, u.Name)
	}
	// "test" is the fixture's token principal: a person without a password.
	if strings.Join(names, ",") != "alice,bob,test" {
		t.Errorf("users %v", names)
	}

	// A session, seen in the record, ended by sign out everywhere.
	u := decode[apitypes.User](t, f.admin(t, "GET", "/api/v1/users/alice", nil), http.StatusOK)
	_, secret, err := f.reg.CreateSession(ctx, registry.SessionInput{Principal: registryPrincipal(u), Method: registry.MethodPassword}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if u := decode[apitypes.User](t, f.admin(t, "GET", "/api/v1/users/alice", nil), http.StatusOK); u.Sessions != 1 {
		t.Errorf("sessions %d, want 1", u.Sessions)
	}
	// Role change: the live session sees it.
	if u := decode[apitypes.User](t, f.admin(t, "PUT", "/api/v1/users/alice/role", map[string]any{"role": "auditor"}), http.StatusOK); u.Role != "auditor" {
		t.Errorf("after set-role: %+v", u)
	}
	if s, err := f.reg.SessionBySecret(ctx, secret, f.clock.Now()); err != nil || s.Principal.Role != "auditor" {
		t.Errorf("session after set-role: %+v, %v", s.Principal, err)
	}
	ended := decode[apitypes.SessionsEnded](t, f.admin(t, "POST", "/api/v1/users/alice/sessions/end", nil), http.StatusOK)
	if ended.Ended != 1 || ended.User != "alice" {
		t.Errorf("sessions/end %+v", ended)
	}
	if _, err := f.reg.SessionBySecret(ctx, secret, f.clock.Now()); err == nil {
		t.Error("session alive after sign out everywhere")
	}

	// TOTP on, then a code signs in; off again.
	on := decode[apitypes.TOTPEnabled](t, f.admin(t, "POST", "/api/v1/users/alice/totp", nil), http.StatusOK)
	if !on.User.TOTP || on.Secret == "" || !strings.HasPrefix(on.OTPAuthURL, "otpauth://totp/") {
		t.Errorf("totp on %+v", on)
	}
	code, _ := totp.GenerateCode(on.Secret, f.clock.Now())
	if _, err := f.reg.SignIn(ctx, "alice", "correct horse battery", code, f.clock.Now()); err != nil {
		t.Errorf("sign in with TOTP: %v", err)
	}
	if u := decode[apitypes.User](t, f.admin(t, "DELETE", "/api/v1/users/alice/totp", nil), http.StatusOK); u.TOTP {
		t.Error("TOTP still on after DELETE")
	}

	// Reset: short refused; generated works and ends sessions.
	if r := f.admin(t, "POST", "/api/v1/users/alice/password", map[string]any{"password": "tiny"}); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "at least 12 characters") {
		t.Errorf("short reset: %d %s", r.status, r.body)
	}
	reset := decode[apitypes.PasswordReset](t, f.admin(t, "POST", "/api/v1/users/alice/password", map[string]any{"generate": true}), http.StatusOK)
	if reset.Password == "" || reset.User.Name != "alice" {
		t.Errorf("reset %+v", reset)
	}
	if _, err := f.reg.SignIn(ctx, "alice", reset.Password, "", f.clock.Now()); err != nil {
		t.Errorf("sign in after reset: %v", err)
	}

	// Disable.
	if u := decode[apitypes.User](t, f.admin(t, "POST", "/api/v1/users/alice/disable", nil), http.StatusOK); u.DisabledAt == nil {
		t.Errorf("disabled %+v", u)
	}

	// The answers are what the OpenAPI document says they are.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.do(t, f.client(t, nil), "GET", "/api/v1/openapi.json", nil, nil).body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct{ method, route, path, status string }{
		{"GET", "/api/v1/users", "/api/v1/users", "200"},
		{"GET", "/api/v1/users/{name}", "/api/v1/users/bob", "200"},
		{"POST", "/api/v1/users/{name}/totp", "/api/v1/users/bob/totp", "200"},
		{"POST", "/api/v1/users/{name}/sessions/end", "/api/v1/users/bob/sessions/end", "200"},
	} {
		r := f.admin(t, call.method, call.path, nil)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := responseSchema(t, c, call.method, call.route, call.status).Validate(v); err != nil {
			t.Errorf("%s %s answers what its schema refuses: %v\n%s", call.method, call.path, err, r.body)
		}
	}

	// Not a person: 404.
	if _, _, err := f.reg.CreateToken(ctx, registry.TokenInput{Principal: "ci", Kind: "automation", Role: "automation"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/users/ci", "/api/v1/users/nobody"} {
		if r := f.admin(t, "GET", path, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, r.status, r.body)
		}
	}
	if r := f.admin(t, "PUT", "/api/v1/users/ci/role", map[string]any{"role": "admin"}); r.status != http.StatusNotFound {
		t.Errorf("set-role of automation through /users: %d, want 404", r.status)
	}

	// Nothing anywhere holds a password.
	es, _, err := f.reg.ListAudit(ctx, registry.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		for _, pw := range []string{"correct horse battery", gen.Password, reset.Password, on.Secret} {
			if strings.Contains(e.Detail, pw) || strings.Contains(e.Target, pw) {
				t.Errorf("audit entry %d %s holds a secret", e.Seq, e.Action)
			}
		}
	}
}

func registryPrincipal(u apitypes.User) access.Principal {
	return access.Principal{ID: u.ID, Name: u.Name, Kind: u.Kind, Role: access.Role(u.Role)}
}
