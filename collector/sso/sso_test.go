package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/sso/ssotest"
)

// The tests run the whole flow over loopback HTTP: a relying party (a TLS
// httptest server calling Start and Finish, as the console will), the real
// OpenID provider of ssotest, and a client with a cookie jar playing the
// browser.

const callbackPath = "/ui/auth/oidc/callback"

func users() []ssotest.User {
	return []ssotest.User{
		{Username: "alice", Password: "alice-pw", Name: "Alice Admin", Email: "alice@example.org", Groups: []string{"helpdesk", "it-admins"}},
		{Username: "bob", Password: "bob-pw", Name: "Bob Desk", Email: "bob@example.org", Groups: []string{"helpdesk"}},
		{Username: "carol", Password: "carol-pw", Name: "Carol Audit", Email: "carol@example.org", Groups: []string{"helpdesk", "auditors", "robots"}},
		{Username: "dave", Password: "dave-pw", Email: "dave@example.org", Groups: []string{"staff", "vpn"}},
	}
}

func roles() map[string]access.Role {
	return map[string]access.Role{"it-admins": access.Admin, "helpdesk": access.Helpdesk, "auditors": access.Auditor, "robots": access.Automation}
}

// result is what the relying party's callback answers with.
type result struct {
	Identity Identity
	ReturnTo string
	Code     string
	Message  string
	Error    string // the whole error, with its cause
}

type env struct {
	op     *ssotest.Provider
	rp     *Provider
	cfg    Config
	srv    *httptest.Server
	client *http.Client // the browser: a cookie jar, stops before the callback
}

// newEnv starts a provider and a relying party; change edits the relying
// party's Config before New.
func newEnv(t *testing.T, o ssotest.Options, change func(*Config)) *env {
	t.Helper()
	e := &env{}
	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	redirect := "https://" + e.srv.Listener.Addr().String() + callbackPath
	o.Users = append(o.Users, users()...)
	o.RedirectURIs = append(o.RedirectURIs, redirect)
	e.op = ssotest.StartOptions(t, o)
	e.cfg = Config{
		Issuer: e.op.Issuer, ClientID: e.op.ClientID, ClientSecret: e.op.ClientSecret,
		RedirectURL: redirect, Roles: roles(), HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
	if change != nil {
		change(&e.cfg)
	}
	rp, err := New(t.Context(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.rp = rp
	mux.HandleFunc("/ui/auth/oidc/start", func(w http.ResponseWriter, r *http.Request) {
		e.rp.Start(w, r, r.URL.Query().Get("return"))
	})
	mux.HandleFunc(callbackPath, func(w http.ResponseWriter, r *http.Request) {
		id, ret, err := e.rp.Finish(r.Context(), w, r)
		res := result{Identity: id, ReturnTo: ret}
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("Finish returned %T %v, want *Error", err, err)
				return
			}
			res.Code, res.Message, res.Error = se.Code, se.Message, err.Error()
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.client = e.browser(t)
	return e
}

// browser is a fresh client with its own cookie jar that trusts the
// relying party's certificate and stops at the redirect to the callback.
func (e *env) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *e.srv.Client()
	c.Jar = jar
	c.Timeout = 10 * time.Second
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == callbackPath {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &c
}

var requestIDField = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// authorize starts a sign-in, fills in the provider's form as a person
// would and returns the callback URL the provider redirects to.
func (e *env) authorize(t *testing.T, c *http.Client, returnTo, username, password string, extra ...string) *url.URL {
	t.Helper()
	resp, err := c.Get(e.srv.URL + "/ui/auth/oidc/start?return=" + url.QueryEscape(returnTo))
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	m := requestIDField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("start: %s at %s, want the provider's sign-in form:\n%s", resp.Status, resp.Request.URL, page)
	}
	form := url.Values{"authRequestID": {m[1]}, "username": {username}, "password": {password}, "sign-in": {"1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	resp, err = c.PostForm(e.op.Issuer+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != callbackPath {
		t.Fatalf("sign-in form: %s (%v), want a redirect to the callback:\n%s", resp.Status, err, body)
	}
	return loc
}

// finish follows the provider's redirect to the callback.
func (e *env) finish(t *testing.T, c *http.Client, callback *url.URL) result {
	t.Helper()
	resp, err := c.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal([]byte(readAll(t, resp)), &res); err != nil {
		t.Fatalf("callback answer: %v", err)
	}
	return res
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) flowCookie(t *testing.T, c *http.Client) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(e.srv.URL + callbackPath)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == CookieName {
			return ck
		}
	}
	t.Fatal("no flow cookie in the browser")
	return nil
}

func setFlowCookie(e *env, c *http.Client, value string) {
	u, _ := url.Parse(e.srv.URL + callbackPath)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: value, Path: "/ui/auth/oidc", Secure: true}})
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ssotest.Options{}, nil)
	tests := []struct {
		user, returnTo string
		want           Identity
		wantReturn     string
	}{
		{"alice", "/ui/devices/42?tab=policies", Identity{Name: "Alice Admin", Email: "alice@example.org", Groups: []string{"helpdesk", "it-admins"}, Role: access.Admin}, "/ui/devices/42?tab=policies"},
		{"bob", "https://evil.example/ui/", Identity{Name: "Bob Desk", Email: "bob@example.org", Groups: []string{"helpdesk"}, Role: access.Helpdesk}, "/ui/"},
		// Auditor outranks helpdesk and automation.
		{"carol", "/ui/", Identity{Name: "Carol Audit", Email: "carol@example.org", Groups: []string{"helpdesk", "auditors", "robots"}, Role: access.Auditor}, "/ui/"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			c := e.browser(t)
			res := e.finish(t, c, e.authorize(t, c, tt.returnTo, tt.user, tt.user+"-pw"))
			if res.Code != "" {
				t.Fatalf("refused: %s: %s", res.Code, res.Message)
			}
			tt.want.Issuer, tt.want.Subject = e.op.Issuer, ssotest.Subject(tt.user)
			if diff := cmp.Diff(tt.want, res.Identity); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if res.ReturnTo != tt.wantReturn {
				t.Errorf("return to %q, want %q", res.ReturnTo, tt.wantReturn)
			}
			u, _ := url.Parse(e.srv.URL + callbackPath)
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == CookieName {
					t.Errorf("the flow cookie outlived the sign-in")
				}
			}
		})
	}
}

func TestStartRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ssotest.Options{}, nil)
	c := e.browser(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(e.srv.URL + "/ui/auth/oidc/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("start: %s, %v; want 302 to the provider", resp.Status, err)
	}
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), e.op.Issuer+"/") || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != e.op.ClientID {
		t.Errorf("authorisation request %s lacks code flow, S256 PKCE, state, nonce or client", loc)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	if ck == nil {
		t.Fatal("no flow cookie set")
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/ui/auth/oidc" || ck.MaxAge != 600 {
		t.Errorf("flow cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/ui/auth/oidc, Max-Age=600", ck)
	}
	for _, secret := range []string{q.Get("state"), q.Get("nonce")} {
		if strings.Contains(ck.Value, secret) {
			t.Errorf("the flow cookie shows its state or nonce in the clear")
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ssotest.Options{}, nil)
	tests := []struct {
		name string
		// run signs in as bob and tampers with the callback or the
		// browser before following it.
		run      func(t *testing.T, c *http.Client) result
		code     string
		contains string
	}{
		{"wrong state", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			q := cb.Query()
			q.Set("state", q.Get("state")+"x")
			cb.RawQuery = q.Encode()
			return e.finish(t, c, cb)
		}, CodeStateMismatch, "does not belong to the sign-in started in this browser"},
		{"no state", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return e.finish(t, c, cb)
		}, CodeStateMismatch, ""},
		{"callback replayed", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			if res := e.finish(t, c, cb); res.Code != "" {
				t.Fatalf("first callback refused: %s", res.Message)
			}
			return e.finish(t, c, cb)
		}, CodeNoFlow, "no sign-in is in progress"},
		{"callback replayed with its cookie", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			ck := e.flowCookie(t, c)
			if res := e.finish(t, c, cb); res.Code != "" {
				t.Fatalf("first callback refused: %s", res.Message)
			}
			setFlowCookie(e, c, ck.Value)
			return e.finish(t, c, cb)
		}, CodeExchange, "did not exchange the code"},
		{"no cookie", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			return e.finish(t, e.browser(t), cb) // another browser
		}, CodeNoFlow, "start again"},
		{"tampered cookie", func(t *testing.T, c *http.Client) result {
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			v := []byte(e.flowCookie(t, c).Value)
			v[len(v)/2] ^= 'A' ^ 'B'
			if v[len(v)/2] == e.flowCookie(t, c).Value[len(v)/2] {
				t.Fatal("tampering changed nothing")
			}
			setFlowCookie(e, c, string(v))
			return e.finish(t, c, cb)
		}, CodeBadCookie, "altered"},
		{"cookie from another sign-in", func(t *testing.T, c *http.Client) result {
			other := e.browser(t)
			e.authorize(t, other, "/ui/", "alice", "alice-pw")
			cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
			setFlowCookie(e, c, e.flowCookie(t, other).Value)
			return e.finish(t, c, cb)
		}, CodeStateMismatch, ""},
		{"no group maps to a role", func(t *testing.T, c *http.Client) result {
			return e.finish(t, c, e.authorize(t, c, "/ui/", "dave", "dave-pw"))
		}, CodeNoRole, `dave@example.org signed in, but the OpenID provider sent groups "staff", "vpn" in the "groups" claim and none of them maps to a console role`},
		{"cancelled at the provider", func(t *testing.T, c *http.Client) result {
			return e.finish(t, c, e.authorize(t, c, "/ui/", "", "", "cancel", "1"))
		}, CodeProviderError, "the OpenID provider refused the sign-in: access_denied (the user cancelled the sign-in)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := tt.run(t, e.browser(t))
			if res.Code != tt.code || !strings.Contains(res.Message, tt.contains) {
				t.Errorf("got %s: %q, want %s containing %q", res.Code, res.Message, tt.code, tt.contains)
			}
			if res.Identity.Subject != "" || res.Identity.Role != "" {
				t.Errorf("a refused sign-in returned identity %+v", res.Identity)
			}
		})
	}
}

// TestVerifier tampers with the PKCE verifier inside a cookie sealed with
// the relying party's own key: only the provider's token endpoint can
// notice, and must.
func TestVerifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ssotest.Options{}, nil)
	for _, verifier := range []string{"", "0123456789012345678901234567890123456789abc"} {
		c := e.browser(t)
		cb := e.authorize(t, c, "/ui/", "bob", "bob-pw")
		f, err := e.rp.open(e.flowCookie(t, c).Value)
		if err != nil {
			t.Fatal(err)
		}
		f.Verifier = verifier
		sealed, err := e.rp.seal(f)
		if err != nil {
			t.Fatal(err)
		}
		setFlowCookie(e, c, sealed)
		if res := e.finish(t, c, cb); res.Code != CodeExchange {
			t.Errorf("verifier %q: got %s: %s, want %s", verifier, res.Code, res.Message, CodeExchange)
		}
	}
}

func TestProviderVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     ssotest.Options
		change   func(*Config)
		code     string
		contains string
	}{
		{"groups from userinfo", ssotest.Options{GroupsOnlyInUserinfo: true}, nil, "", ""},
		{"public client with PKCE", ssotest.Options{PublicClient: true}, nil, "", ""},
		{"ID token for another audience", ssotest.Options{IDTokenClaims: func(c map[string]any) {
			c["aud"], c["azp"], c["client_id"] = []string{"another-app"}, "another-app", "another-app"
		}}, nil, CodeIDToken, `the ID token was refused: oidc: expected audience "roster-console"`},
		{"ID token for several audiences", ssotest.Options{IDTokenClaims: func(c map[string]any) {
			c["aud"], c["azp"] = []string{ssotest.ClientIDDefault, "another-app"}, "another-app"
		}}, nil, CodeIDToken, "several audiences"},
		{"ID token from another issuer", ssotest.Options{IDTokenClaims: func(c map[string]any) {
			c["iss"] = "https://login.example.org"
		}}, nil, CodeIDToken, "id token issued by a different provider"},
		{"ID token expired", ssotest.Options{IDTokenClaims: func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		}}, nil, CodeIDToken, "token is expired"},
		{"ID token with another nonce", ssotest.Options{IDTokenClaims: func(c map[string]any) {
			c["nonce"] = "not-this-sign-in"
		}}, nil, CodeIDToken, "its nonce is not this sign-in's"},
		{"ID token unedited passes the rewrite", ssotest.Options{IDTokenClaims: func(map[string]any) {}}, nil, "", ""},
		{"wrong client secret", ssotest.Options{}, func(c *Config) { c.ClientSecret = "not-it" }, CodeExchange, "invalid_client"},
		{"groups claim absent everywhere", ssotest.Options{}, func(c *Config) { c.GroupsClaim = "roles" }, CodeNoRole, `sent no groups in the "roles" claim`},
		{"expired flow", ssotest.Options{}, func(c *Config) {
			start := time.Now()
			var calls atomic.Int32
			// The first call stamps the cookie; later ones are 11 minutes on.
			c.Now = func() time.Time {
				if calls.Add(1) == 1 {
					return start
				}
				return start.Add(FlowLifetime + time.Minute)
			}
		}, CodeNoFlow, "longer than 10 minutes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.opts, tt.change)
			res := e.finish(t, e.client, e.authorize(t, e.client, "/ui/", "bob", "bob-pw"))
			if res.Code != tt.code || !strings.Contains(res.Error, tt.contains) {
				t.Fatalf("got %s: %q, want %q containing %q", res.Code, res.Error, tt.code, tt.contains)
			}
			if tt.code == "" && res.Identity.Role != access.Helpdesk {
				t.Errorf("role %q, want helpdesk", res.Identity.Role)
			}
		})
	}
}

// TestCookieKey: a sign-in started on one collector finishes on another
// only if they share the cookie key.
func TestCookieKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	e := newEnv(t, ssotest.Options{}, func(c *Config) { c.CookieKey = key })
	for _, tt := range []struct {
		name string
		key  []byte
		code string
	}{{"same key", key, ""}, {"own key", nil, CodeBadCookie}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.CookieKey = tt.key
			other, err := New(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := e.browser(t)
			cb := e.authorize(t, c, "/ui/x", "alice", "alice-pw")
			r := httptest.NewRequest(http.MethodGet, cb.String(), nil)
			r.AddCookie(e.flowCookie(t, c))
			id, ret, err := other.Finish(t.Context(), httptest.NewRecorder(), r)
			var se *Error
			switch {
			case tt.code == "" && (err != nil || id.Role != access.Admin || ret != "/ui/x"):
				t.Errorf("got %+v, %q, %v; want alice as admin back to /ui/x", id, ret, err)
			case tt.code != "" && (!errors.As(err, &se) || se.Code != tt.code):
				t.Errorf("got %v, want code %s", err, tt.code)
			}
		})
	}
}

// flaky fails every request while down is set: the provider's network
// being away.
type flaky struct {
	down atomic.Bool
	next http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		return nil, errors.New("network is down")
	}
	return f.next.RoundTrip(r)
}

func TestProviderUnreachableAtStart(t *testing.T) {
	t.Parallel()
	net := &flaky{next: http.DefaultTransport}
	net.down.Store(true)
	e := newEnv(t, ssotest.Options{}, func(c *Config) { c.HTTPClient = &http.Client{Transport: net, Timeout: 10 * time.Second} })

	err := e.rp.Ready(t.Context())
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeProviderUnreachable || !strings.Contains(se.Message, e.op.Issuer) {
		t.Fatalf("Ready = %v, want %s naming the issuer", err, CodeProviderUnreachable)
	}
	resp, err := e.client.Get(e.srv.URL + "/ui/auth/oidc/start")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "could not be reached") ||
		strings.Contains(body, "network is down") {
		t.Errorf("start while unreachable: %s %q, want 503 saying the provider could not be reached, without the cause", resp.Status, body)
	}

	net.down.Store(false)
	res := e.finish(t, e.client, e.authorize(t, e.client, "/ui/", "alice", "alice-pw"))
	if res.Code != "" || res.Identity.Role != access.Admin {
		t.Errorf("after the provider came back: %s %s, role %q; want admin", res.Code, res.Message, res.Identity.Role)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ssotest.Options{}, nil)
	resp, err := e.client.Get(e.srv.URL + "/ui/auth/oidc/start")
	if err != nil {
		t.Fatal(err)
	}
	m := requestIDField.FindStringSubmatch(readAll(t, resp))
	if m == nil {
		t.Fatal("no sign-in form")
	}
	resp, err = e.client.PostForm(e.op.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "username": {"bob"}, "password": {"guess"}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `role="alert">wrong username or password`) ||
		!requestIDField.MatchString(body) {
		t.Errorf("wrong password: %s, want 401 and the form again with the message:\n%s", resp.Status, body)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	ok := Config{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: "https://c.example" + callbackPath, Roles: roles(),
		HTTPClient: &http.Client{Transport: &flaky{}}}
	ok.HTTPClient.Transport.(*flaky).down.Store(true)
	if _, err := New(context.Background(), ok); err != nil {
		t.Fatalf("an unreachable provider failed New: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"no issuer": func(c *Config) { c.Issuer = "" },
		"no client": func(c *Config) { c.ClientID = "" },
		"relative":  func(c *Config) { c.RedirectURL = callbackPath },
		"no roles":  func(c *Config) { c.Roles = nil },
		"bad role":  func(c *Config) { c.Roles = map[string]access.Role{"g": "root"} },
		"no openid": func(c *Config) { c.Scopes = []string{"profile"} },
		"short key": func(c *Config) { c.CookieKey = []byte("short") },
	} {
		cfg := ok
		change(&cfg)
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestLocalReturn(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                           "/ui/",
		"/ui/":                       "/ui/",
		"/ui/devices/7?tab=software": "/ui/devices/7?tab=software",
		"/ui/search?q=a%2Fb#results": "/ui/search?q=a%2Fb#results",
		"/api/v1/devices":            "/ui/",
		"/ui/../api/v1/tokens":       "/ui/",
		"//evil.example/ui/":         "/ui/",
		"https://evil.example/ui/":   "/ui/",
		"/ui/\\evil.example":         "/ui/",
		"/ui/\r\nSet-Cookie: x=y":    "/ui/",
		"ui/":                        "/ui/",
		"/uix":                       "/ui/",
	} {
		if got := LocalReturn(in); got != want {
			t.Errorf("LocalReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRolePrecedence(t *testing.T) {
	t.Parallel()
	p := &Provider{cfg: Config{Roles: roles()}}
	for _, tt := range []struct {
		groups []string
		want   access.Role
	}{
		{[]string{"robots", "helpdesk"}, access.Helpdesk},
		{[]string{"robots", "helpdesk", "auditors"}, access.Auditor},
		{[]string{"auditors", "it-admins"}, access.Admin},
		{[]string{"robots"}, access.Automation},
		{[]string{"unknown"}, ""},
		{nil, ""},
	} {
		if got, _ := p.role(tt.groups); got != tt.want {
			t.Errorf("role(%v) = %q, want %q", tt.groups, got, tt.want)
		}
	}
}
