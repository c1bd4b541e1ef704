package ssotest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestContract checks what relying parties and browser tests rely on: the
// discovery document and the sign-in form's field names (package doc).
func TestContract(t *testing.T) {
	t.Parallel()
	redirect := "https://127.0.0.1:*/ui/auth/oidc/callback"
	p := Start(t, []User{{Username: "u", Password: "p"}}, redirect)

	resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Issuer, AuthorizationEndpoint, TokenEndpoint, UserinfoEndpoint, JwksURI string
		Challenge                                                               []string `json:"code_challenge_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d.Issuer != p.Issuer || !slices.Contains(d.Challenge, "S256") {
		t.Errorf("discovery: issuer %q, PKCE %v; want %q, S256", d.Issuer, d.Challenge, p.Issuer)
	}

	q := url.Values{"client_id": {p.ClientID}, "response_type": {"code"}, "scope": {"openid groups"}, "state": {"s"},
		"redirect_uri": {"https://127.0.0.1:8443/ui/auth/oidc/callback"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"}}
	resp, err = http.Get(p.Issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("authRequestID") == "" {
		t.Fatalf("authorize: %s at %s, want the sign-in page /login?authRequestID=…", resp.Status, resp.Request.URL)
	}
	for _, want := range []string{`<form id="login" method="post" action="/login">`, `name="authRequestID"`, `id="username" name="username"`,
		`id="password" name="password" type="password"`, `name="sign-in"`, `name="cancel"`, `<label for="username">`, `<label for="password">`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s:\n%s", want, page)
		}
	}
}
