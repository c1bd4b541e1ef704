// Package ssotest runs a real OpenID provider on loopback for tests of the
// console's single sign-on: discovery, an authorisation endpoint with a
// username and password form a person (or headless Chromium) fills in, a
// token endpoint that checks PKCE, JWKS and userinfo, all from
// github.com/zitadel/oidc's op package, over plain HTTP on 127.0.0.1. Only
// the users, their groups and the one client are configured here, so a
// relying party is tested against the protocol, not against an imitation.
//
// The sign-in page is at <Issuer>/login?authRequestID=<id>, where the
// authorisation endpoint redirects. Its form (id "login") posts to
// <Issuer>/login and has these fields:
//
//	authRequestID  hidden, already filled in
//	username       text input, label "Username"
//	password       password input, label "Password"
//	sign-in        the submit button "Sign in"
//	cancel         a second submit button "Cancel": the provider then answers
//	               the relying party with error=access_denied
//
// A wrong password shows the form again with status 401 and the message
// "wrong username or password" in an element with role "alert".
package ssotest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is an account of the provider. Its subject is Subject(Username).
type User struct {
	Username, Password, Name, Email string
	// Groups are sent in the "groups" claim when the groups scope is
	// requested.
	Groups []string
}

// Options configure a provider beyond its users and redirect URIs.
type Options struct {
	Users []User
	// RedirectURIs the client may use; each may be a pattern where *
	// stands for any text without a slash, such as
	// "https://127.0.0.1:*/ui/auth/oidc/callback" for a collector whose
	// port is chosen when it starts.
	RedirectURIs []string
	// PublicClient registers the client without a secret: it must use
	// PKCE and authenticates with nothing else.
	PublicClient bool
	// GroupsOnlyInUserinfo leaves the groups claim out of the ID token,
	// as some providers do, so the relying party must ask the userinfo
	// endpoint.
	GroupsOnlyInUserinfo bool
	// IDTokenClaims, when set, edits the ID token's claims as the token
	// endpoint sends it, signed again with the provider's key: a provider
	// misconfigured or mixed up with another client (another audience,
	// issuer or nonce) whose tokens still carry a valid signature.
	IDTokenClaims func(claims map[string]any)
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is the provider's URL (http://127.0.0.1:port), where
	// discovery is at /.well-known/openid-configuration.
	Issuer string
	// ClientID and ClientSecret are the client registered for the relying
	// party under test (ClientSecret is empty for a public client).
	ClientID, ClientSecret string

	storage *storage
}

// ClientIDDefault is the registered client's ID.
const ClientIDDefault = "roster-console"

// Start runs a provider with a confidential client allowed redirectURIs
// (patterns as in Options.RedirectURIs) and stops it when the test ends.
func Start(t testing.TB, users []User, redirectURIs ...string) *Provider {
	t.Helper()
	return StartOptions(t, Options{Users: users, RedirectURIs: redirectURIs})
}

// StartOptions runs a provider configured by o and stops it when the test
// ends.
func StartOptions(t testing.TB, o Options) *Provider {
	t.Helper()
	p, err := start(o)
	if err != nil {
		t.Fatalf("start OpenID provider: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
	})
	return p.Provider
}

// Subject is the subject (sub claim) the provider gives username. (Not
// with a colon: the op package's opaque access tokens are "id:subject".)
func Subject(username string) string { return "user-" + username }

type running struct {
	*Provider
	srv *http.Server
}

func start(o Options) (*running, error) {
	secret := ""
	if !o.PublicClient {
		secret = rand.Text()
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := newStorage(o, &client{id: ClientIDDefault, secret: secret, redirectURIs: o.RedirectURIs}, key)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	issuer := "http://" + ln.Addr().String()
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:          cryptoKey,
		CryptoKeyId:        "ssotest",
		CodeMethodS256:     true,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
		SupportedScopes:    []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, scopeGroups},
		SupportedClaims:    []string{"sub", "aud", "exp", "iat", "iss", "nonce", "name", "email", "preferred_username", claimGroups},
	}, s, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	l := &login{storage: s, provider: provider}
	mux.Handle("/login", op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(l))
	mux.Handle("/", provider)
	if o.IDTokenClaims != nil {
		mux.Handle(provider.TokenEndpoint().Relative(), rewriteIDToken(provider, s.key, o.IDTokenClaims))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &running{
		Provider: &Provider{Issuer: issuer, ClientID: ClientIDDefault, ClientSecret: secret, storage: s},
		srv:      srv,
	}, nil
}

//go:embed login.html
var pages embed.FS

var loginPage = template.Must(template.ParseFS(pages, "login.html"))

// login is the provider's sign-in page: the op package handles the
// protocol and sends the browser here with the authorisation request's id.
type login struct {
	storage  *storage
	provider *op.Provider
}

func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		l.render(w, http.StatusOK, r.URL.Query().Get("authRequestID"), "")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, "parse the sign-in form: "+err.Error(), http.StatusBadRequest)
			return
		}
		id := r.PostForm.Get("authRequestID")
		if r.PostForm.Has("cancel") {
			req, err := l.storage.AuthRequestByID(r.Context(), id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user cancelled the sign-in"), l.provider)
			return
		}
		err := l.storage.signIn(id, r.PostForm.Get("username"), r.PostForm.Get("password"))
		switch {
		case errors.Is(err, errWrongPassword):
			l.render(w, http.StatusUnauthorized, id, "wrong username or password")
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			http.Redirect(w, r, op.AuthCallbackURL(l.provider)(r.Context(), id), http.StatusFound)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (l *login) render(w http.ResponseWriter, status int, id, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// No form-action: the form's POST is answered with a redirect to the
	// relying party's callback on another origin, and Chromium holds
	// redirects after a form submission to form-action too (form-action
	// does not fall back to default-src, so leaving it out allows that).
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct{ ID, Problem string }{id, problem})
}

// signingKey is the provider's one RS256 key.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// rewriteIDToken passes token requests to next and edits the ID token in a
// successful answer with edit, signing it again with key.
func rewriteIDToken(next http.Handler, key *signingKey, edit func(map[string]any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			if b, err := editIDToken(body, key, edit); err == nil {
				body = b
			} else {
				http.Error(w, "ssotest: rewrite the ID token: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func editIDToken(body []byte, key *signingKey, edit func(map[string]any)) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	raw, _ := resp["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("no ID token in the answer")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	edit(claims)
	if payload, err = json.Marshal(claims); err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.key, KeyID: key.id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	if resp["id_token"], err = jws.CompactSerialize(); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}
