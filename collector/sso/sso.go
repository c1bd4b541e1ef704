// Package sso signs people in to the web console through an OpenID
// provider: the authorisation code flow with PKCE (S256), a state and a
// nonce, kept between Start and Finish in a short-lived cookie the
// collector encrypts and authenticates, so nothing is stored server-side
// for a sign-in in progress. Finish checks the answer, verifies the ID
// token (issuer, audience, expiry, nonce) and maps the user's groups to a
// console role. Discovery happens in New; a provider that cannot be reached
// then is tried again at the first sign-in, so an outage of the identity
// provider never stops the collector from starting. What the console does
// with the Identity (its principal, session and audit entry) is the caller's.
package sso

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rosterhq/roster/collector/access"
	"golang.org/x/oauth2"
)

// CookieName is the cookie that carries a sign-in in progress.
const CookieName = "roster_oidc"

// FlowLifetime is how long a person has between Start and Finish.
const FlowLifetime = 10 * time.Minute

// DefaultScopes are requested when Config.Scopes is empty.
func DefaultScopes() []string { return []string{oidc.ScopeOpenID, "profile", "email", "groups"} }

// RolePrecedence decides the role of a user whose groups map to several:
// the first that matches wins. Auditor ranks above helpdesk because its
// read-everything view is what an auditor who also sits on the helpdesk
// rota is expected to see; admin is first so an administrator never
// lands in a lesser role by the order of their groups.
func RolePrecedence() []access.Role {
	return []access.Role{access.Admin, access.Auditor, access.Helpdesk, access.Automation}
}

// Config is the relying party.
type Config struct {
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientID and ClientSecret identify the collector to the provider;
	// an empty secret is a public client, protected by PKCE alone.
	ClientID, ClientSecret string
	// RedirectURL is the callback registered with the provider; the
	// flow's cookie is scoped to its directory.
	RedirectURL string
	// Scopes requested (default openid profile email groups).
	Scopes []string
	// GroupsClaim names the claim listing the user's groups (default
	// "groups").
	GroupsClaim string
	// Roles maps a group to the role its members get (RolePrecedence
	// decides between several).
	Roles map[string]access.Role
	// HTTPClient talks to the provider (discovery, token, keys, userinfo);
	// nil means one with a 30-second timeout and the system's roots.
	HTTPClient *http.Client
	// CookieKey is the 32-byte AES-256 key sealing the flow cookie. Nil
	// generates one for this process: a sign-in then finishes only on the
	// collector that started it, so collectors behind one load balancer
	// must share a key.
	CookieKey []byte
	// DisplayName is the sign-in button's text (default "single sign-on").
	DisplayName string
	// Logger receives what Start cannot return: discovery failures and
	// sign-ins that could not start; nil discards them. Finish returns its
	// errors and logs nothing.
	Logger *slog.Logger
	// Now is the clock for the flow cookie's expiry and the ID token's
	// (default time.Now). A clock far from the provider's refuses every
	// ID token as expired or not yet valid.
	Now func() time.Time
}

// Identity is who signed in.
type Identity struct {
	// Issuer and Subject together name the person for good; email and
	// name can change.
	Issuer, Subject string
	// Name is the name claim, else preferred_username, else the email.
	Name  string
	Email string
	// Groups are the groups the provider sent, as sent.
	Groups []string
	// Role is the one their groups map to.
	Role access.Role
}

// Provider is the relying party of one OpenID provider. It is safe for
// concurrent use.
type Provider struct {
	cfg         Config
	aead        cipher.AEAD
	log         *slog.Logger
	cookiePath  string
	displayName string

	mu sync.Mutex
	rp *discovered // nil until discovery succeeds
}

// discovered is what discovery yields.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	userinfo bool
}

// New checks cfg and reads the provider's discovery document. If the
// provider cannot be reached, New still returns a Provider (and logs why)
// and discovery is tried again at each sign-in until it succeeds; an error
// is returned only for a configuration that can never work.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("sso: issuer, client id and redirect URL are required")
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || !redirect.IsAbs() {
		return nil, fmt.Errorf("sso: redirect URL %q is not an absolute URL", cfg.RedirectURL)
	}
	if len(cfg.Roles) == 0 {
		return nil, errors.New("sso: no group is mapped to a role, so nobody could sign in")
	}
	for g, r := range cfg.Roles {
		if _, err := access.ParseRole(string(r)); err != nil {
			return nil, fmt.Errorf("sso: group %q: %w", g, err)
		}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes()
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		return nil, errors.New("sso: the scopes must include openid")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.CookieKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("sso: generate cookie key: %w", err)
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("sso: cookie key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sso: cookie key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sso: cookie key: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		cfg:         cfg,
		aead:        aead,
		log:         log.With("issuer", cfg.Issuer),
		cookiePath:  path.Dir(redirect.EscapedPath()),
		displayName: cmp.Or(cfg.DisplayName, "single sign-on"),
	}
	if _, err := p.discover(ctx); err != nil {
		p.log.Warn("OpenID provider unreachable; single sign-on will try again at the first sign-in", "err", err)
	}
	return p, nil
}

// DisplayName is the sign-in button's text.
func (p *Provider) DisplayName() string { return p.displayName }

// Ready reads the provider's discovery document if that has not succeeded
// yet, and says why single sign-on cannot be used now.
func (p *Provider) Ready(ctx context.Context) error {
	_, err := p.discover(ctx)
	return err
}

func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rp != nil {
		return p.rp, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, &Error{Code: CodeProviderUnreachable,
			Message: fmt.Sprintf("single sign-on is unavailable: the OpenID provider %s could not be reached or its discovery document read; try again later", p.cfg.Issuer),
			Err:     err}
	}
	endpoint := op.Endpoint()
	if p.cfg.ClientSecret == "" {
		// A public client names itself in the form; an empty Basic
		// password is refused by some providers.
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	p.rp = &discovered{
		provider: op,
		verifier: op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now}),
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.cfg.ClientSecret,
			RedirectURL:  p.cfg.RedirectURL,
			Endpoint:     endpoint,
			Scopes:       p.cfg.Scopes,
		},
		userinfo: op.UserInfoEndpoint() != "",
	}
	return p.rp, nil
}

// flow is a sign-in in progress, sealed in the cookie.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Start begins a sign-in: it keeps a fresh state, nonce and PKCE verifier
// in the flow cookie and redirects the browser to the provider. returnTo
// is where Finish sends the person afterwards: a path under /ui/, anything
// else becomes /ui/. If the provider cannot be reached Start answers 503
// with a message saying so.
func (p *Provider) Start(w http.ResponseWriter, r *http.Request, returnTo string) {
	rp, err := p.discover(r.Context())
	if err != nil {
		p.log.Warn("sign-in not started", "err", err)
		http.Error(w, PublicMessage(err), http.StatusServiceUnavailable)
		return
	}
	f := flow{
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: LocalReturn(returnTo),
		Expires:  p.cfg.Now().Add(FlowLifetime).Unix(),
	}
	sealed, err := p.seal(f)
	if err != nil {
		p.log.Error("sign-in not started", "err", err)
		http.Error(w, "single sign-on failed to start", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    sealed,
		Path:     p.cookiePath,
		MaxAge:   int(FlowLifetime / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// LocalReturn is s if it is a path under /ui/ on this site, else /ui/.
// It keeps the sign-in from becoming an open redirect.
func LocalReturn(s string) string {
	const home = "/ui/"
	if !strings.HasPrefix(s, home) || strings.ContainsAny(s, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	// A cleaned path must still be under /ui/ (no /ui/../api).
	if c := path.Clean(u.Path); c != "/ui" && !strings.HasPrefix(c, home) {
		return home
	}
	return s
}

// Finish completes a sign-in at the redirect URL: it checks the state
// against the flow cookie, surfaces an error the provider sent, exchanges
// the code with the PKCE verifier, verifies the ID token and its nonce,
// reads the user's claims (groups from the ID token, else from userinfo)
// and maps the groups to a role. The flow cookie is cleared whatever the
// outcome, so a callback cannot be replayed. Errors are *Error: show the
// person PublicMessage(err), log err (which has the cause).
func (p *Provider) Finish(ctx context.Context, w http.ResponseWriter, r *http.Request) (Identity, string, error) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: p.cookiePath, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")

	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return Identity{}, "", &Error{Code: CodeNoFlow,
			Message: "no sign-in is in progress in this browser (it was finished already, took longer than 10 minutes or cookies are blocked); start again"}
	}
	f, err := p.open(c.Value)
	if err != nil {
		return Identity{}, "", &Error{Code: CodeBadCookie,
			Message: "the sign-in could not be read back (it was started on another collector or altered); start again", Err: err}
	}
	if p.cfg.Now().Unix() > f.Expires {
		return Identity{}, "", &Error{Code: CodeNoFlow, Message: "the sign-in took longer than 10 minutes; start again"}
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return Identity{}, "", &Error{Code: CodeStateMismatch,
			Message: "the provider's answer does not belong to the sign-in started in this browser; start again"}
	}
	if e := q.Get("error"); e != "" {
		msg := "the OpenID provider refused the sign-in: " + e
		if d := q.Get("error_description"); d != "" {
			msg += " (" + d + ")"
		}
		return Identity{}, "", &Error{Code: CodeProviderError, Message: msg}
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", &Error{Code: CodeProviderError, Message: "the OpenID provider's answer has neither a code nor an error"}
	}
	rp, err := p.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	tok, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, "", &Error{Code: CodeExchange,
			Message: "the OpenID provider did not exchange the code for tokens (used already, expired, or the client is misconfigured)", Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", &Error{Code: CodeIDToken, Message: "the OpenID provider sent no ID token (is the openid scope allowed for this client?)"}
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", &Error{Code: CodeIDToken, Message: "the ID token was refused", Err: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, "", &Error{Code: CodeIDToken, Message: "the ID token was refused: its nonce is not this sign-in's"}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, "", &Error{Code: CodeIDToken, Message: "the ID token's claims could not be read", Err: err}
	}
	if aud := idt.Audience; len(aud) > 1 {
		if azp, _ := claims["azp"].(string); azp != p.cfg.ClientID {
			return Identity{}, "", &Error{Code: CodeIDToken,
				Message: fmt.Sprintf("the ID token was refused: it names several audiences and its authorised party is %q, not this client", azp)}
		}
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	groups, found, err := claimStrings(claims, p.cfg.GroupsClaim)
	if err != nil {
		return Identity{}, "", &Error{Code: CodeClaims, Message: "the ID token's " + err.Error()}
	}
	if !found && rp.userinfo {
		ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, "", &Error{Code: CodeClaims, Message: "the OpenID provider's userinfo endpoint did not answer", Err: err}
		}
		// OpenID Connect Core 5.3.2: userinfo about someone else is not
		// to be used.
		if ui.Subject != idt.Subject {
			return Identity{}, "", &Error{Code: CodeClaims, Message: "the userinfo answer is about another subject than the ID token"}
		}
		var uc map[string]any
		if err := ui.Claims(&uc); err != nil {
			return Identity{}, "", &Error{Code: CodeClaims, Message: "the userinfo claims could not be read", Err: err}
		}
		if groups, _, err = claimStrings(uc, p.cfg.GroupsClaim); err != nil {
			return Identity{}, "", &Error{Code: CodeClaims, Message: "the userinfo " + err.Error()}
		}
		for k, v := range uc {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	id.Groups = groups
	id.Email, _ = claims["email"].(string)
	name, _ := claims["name"].(string)
	username, _ := claims["preferred_username"].(string)
	id.Name = cmp.Or(name, username, id.Email)

	role, ok := p.role(groups)
	if !ok {
		who := cmp.Or(id.Email, username, id.Subject)
		seen := "no groups"
		if len(groups) > 0 {
			seen = "groups " + strings.Join(quoteAll(groups), ", ")
		}
		return Identity{}, "", &Error{Code: CodeNoRole,
			Message: fmt.Sprintf("%s signed in, but the OpenID provider sent %s in the %q claim and none of them maps to a console role; an administrator can map one in console.oidc.roles",
				who, seen, p.cfg.GroupsClaim)}
	}
	id.Role = role
	return id, f.ReturnTo, nil
}

// role is the first role in RolePrecedence that one of groups maps to.
func (p *Provider) role(groups []string) (access.Role, bool) {
	have := map[access.Role]bool{}
	for _, g := range groups {
		if r, ok := p.cfg.Roles[g]; ok {
			have[r] = true
		}
	}
	for _, r := range RolePrecedence() {
		if have[r] {
			return r, true
		}
	}
	return "", false
}

// claimStrings reads a claim holding a list of strings or one string.
func claimStrings(claims map[string]any, name string) ([]string, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, true, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, true, fmt.Errorf("%q claim holds a %T, not a string", name, e)
			}
			out = append(out, s)
		}
		return out, true, nil
	default:
		return nil, true, fmt.Errorf("%q claim is a %T, not a list of strings", name, v)
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// seal encrypts and authenticates f for the cookie. The additional data
// binds it to this issuer and client, so a cookie from another relying
// party sharing the key does not open here.
func (p *Provider) seal(f flow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("encode sign-in state: %w", err)
	}
	nonce := make([]byte, p.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal sign-in state: %w", err)
	}
	out := p.aead.Seal(nonce, nonce, plain, p.additionalData())
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func (p *Provider) open(s string) (flow, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return flow{}, fmt.Errorf("decode sign-in cookie: %w", err)
	}
	n := p.aead.NonceSize()
	if len(b) < n+p.aead.Overhead() {
		return flow{}, errors.New("sign-in cookie too short")
	}
	plain, err := p.aead.Open(nil, b[:n], b[n:], p.additionalData())
	if err != nil {
		return flow{}, fmt.Errorf("open sign-in cookie: %w", err)
	}
	var f flow
	if err := json.Unmarshal(plain, &f); err != nil {
		return flow{}, fmt.Errorf("decode sign-in state: %w", err)
	}
	return f, nil
}

func (p *Provider) additionalData() []byte {
	return []byte(CookieName + "\x00" + p.cfg.Issuer + "\x00" + p.cfg.ClientID)
}
