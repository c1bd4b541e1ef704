package console

// Who is asking, and may they: the session cookie, the CSRF token every
// form carries, sign-in with a local account or OIDC, and sign-out.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/fault"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/sso"
	"github.com/rosterhq/roster/collector/throttle"
)

// Cookies. The __Host- prefix makes the browser insist on Secure, Path=/
// and no Domain, so no other host or path can set or read them.
const (
	sessionCookie = "__Host-roster_session"
	// loginCookie carries the sign-in form's CSRF token before there is a
	// session (double submit: the form field must equal the cookie).
	loginCookie = "__Host-roster_login"
	// maxFormBytes limits every form body.
	maxFormBytes = 64 << 10
)

// view is what a page handler knows about the request: who asks, through
// which session, and the CSRF token its forms must carry.
type view struct {
	Principal access.Principal
	Session   registry.Session
	CSRF      string
	Actor     access.Actor
}

// Can reports whether the viewer's role holds the permission named p
// (templates use it to hide what the role cannot do).
func (v *view) Can(p string) bool { return v != nil && v.Principal.Role.Can(access.Permission(p)) }

// guard resolves the session, checks the route's permission and, on a
// POST, the CSRF token, then runs the handler with the actor in the
// request's context so the registry's audit entries name the person.
func (c *Console) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor := access.Actor{Source: throttle.Source(r), RequestID: newID(8)}
		if rt.perm == access.Public {
			rt.h(w, r.WithContext(access.WithActor(r.Context(), actor)), nil)
			return
		}
		v, ok := c.session(w, r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			// A form sent without a live session is refused, and audited
			// as the API audits its 401s.
			detail := map[string]any{"status": http.StatusUnauthorized, "code": "unauthenticated", "reason": "no live session",
				"permission": rt.perm, "via": "console"}
			if err := c.reg.AuditOutside(access.WithActor(r.Context(), actor), "request.denied", r.Method+" "+r.URL.Path, audit.Denied, detail); err != nil {
				c.logger.Error("audit denied request", "err", err)
			}
			c.errorPage(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again, then repeat what you were doing.")
			return
		}
		actor.Principal = v.Principal
		v.Actor = actor
		ctx := access.WithActor(r.Context(), actor)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.errorPage(w, r, v, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), v.CSRF) || !sameOrigin(r) {
				c.deny(w, r, v, rt.perm, "csrf", "This form expired or was not sent from this site. Go back, reload the page and submit it again.")
				return
			}
		}
		if rt.perm != signedIn && !v.Principal.Role.Can(rt.perm) {
			c.deny(w, r, v, rt.perm, "forbidden", fmt.Sprintf("The %s role may not do this (it needs the %s permission). Ask an administrator if you need it.", v.Principal.Role, rt.perm))
			return
		}
		rt.h(w, r, v)
	}
}

// session returns the live session the request's cookie names.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*view, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, false
	}
	s, err := c.reg.SessionBySecret(r.Context(), ck.Value, c.now())
	if err != nil {
		if !errors.Is(err, registry.ErrUnauthenticated) {
			c.logger.Error("read session", "err", err)
		}
		clearCookie(w, sessionCookie)
		return nil, false
	}
	return &view{Principal: s.Principal, Session: s, CSRF: s.CSRF}, true
}

// deny answers a refused request with a page and records it in the audit
// log, as the API does for its refusals.
func (c *Console) deny(w http.ResponseWriter, r *http.Request, v *view, perm access.Permission, code, msg string) {
	detail := map[string]any{"status": http.StatusForbidden, "code": code, "reason": msg, "permission": perm, "via": "console"}
	if err := c.reg.AuditOutside(r.Context(), "request.denied", r.Method+" "+r.URL.Path, audit.Denied, detail); err != nil {
		c.logger.Error("audit denied request", "err", err)
	}
	c.logger.Warn("console request denied", "method", r.Method, "path", r.URL.Path, "principal", v.Principal.Name, "code", code)
	c.errorPage(w, r, v, http.StatusForbidden, msg)
}

func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin refuses a POST whose Origin (or, without one, Sec-Fetch-Site)
// says another site sent it; browsers send one or the other on every
// form POST, and a request with neither (curl) is judged by the token alone.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	return true
}

func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setCookie sets a Secure, HttpOnly cookie. The session cookie is
// SameSite=Lax, not Strict: the browser must send it on the redirect that
// ends an OIDC sign-in, which a provider on another site starts; forms are
// protected by their CSRF token, not by SameSite.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	same := http.SameSiteStrictMode
	if name == sessionCookie {
		same = http.SameSiteLaxMode
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		Secure: true, HttpOnly: true, SameSite: same,
	})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// localNext keeps a post-sign-in destination on the console: a path under
// /ui/ and nothing that a browser would read as another host.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

type loginData struct {
	Next, Username, Error string
	SSO                   string
	CSRF                  string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, _ *view) {
	if _, ok := c.session(w, r); ok {
		http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, loginData{Next: localNext(r.URL.Query().Get("next"))})
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.CSRF = newID(24)
	setCookie(w, loginCookie, d.CSRF, 30*time.Minute)
	if c.sso != nil {
		d.SSO = c.sso.DisplayName()
	}
	c.render(w, r, status, "login", nil, "Sign in", d)
}

// login checks a local account's password (and TOTP code) and starts a
// session. The registry counts failures and locks the account; the answer
// never says whether the name exists.
func (c *Console) login(w http.ResponseWriter, r *http.Request, _ *view) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, r, http.StatusBadRequest, loginData{Error: "The form could not be read."})
		return
	}
	name, next := strings.TrimSpace(r.PostForm.Get("username")), localNext(r.PostForm.Get("next"))
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostForm.Get("csrf"), ck.Value) || !sameOrigin(r) {
		c.renderLogin(w, r, http.StatusForbidden, loginData{Next: next, Username: name,
			Error: "This sign-in form expired or was not sent from this site. Enter your password again."})
		return
	}
	if wait := c.limiter.Blocked(throttle.Source(r)); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		c.renderLogin(w, r, http.StatusTooManyRequests, loginData{Next: next, Username: name,
			Error: fmt.Sprintf("Too many failed sign-ins from your address: try again in %d seconds.", int(wait.Seconds())+1)})
		return
	}
	p, err := c.reg.SignIn(r.Context(), name, r.PostForm.Get("password"), strings.TrimSpace(r.PostForm.Get("totp")), c.now())
	if err != nil {
		if errors.Is(err, registry.ErrUnauthenticated) || errors.Is(err, registry.ErrLocked) {
			c.limiter.Fail(throttle.Source(r))
		}
		status, msg := http.StatusUnauthorized, "Wrong user name, password or code."
		var fe *fault.Error
		switch {
		case errors.Is(err, registry.ErrLocked) && errors.As(err, &fe):
			status = http.StatusTooManyRequests
			msg = fmt.Sprintf("Too many failed attempts: this account is locked for now. Try again in %s, or ask an administrator to reset it.",
				fe.RetryAfter.Round(time.Second))
			w.Header().Set("Retry-After", fmt.Sprint(int(fe.RetryAfter.Seconds())+1))
		case !errors.Is(err, registry.ErrUnauthenticated):
			c.logger.Error("sign in", "err", err)
			status, msg = http.StatusInternalServerError, "Sign-in failed on the server; try again, and tell IT if it keeps failing."
		}
		c.renderLogin(w, r, status, loginData{Next: next, Username: name, Error: msg})
		return
	}
	c.startSession(w, r, p, "password", next)
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, p access.Principal, method, next string) {
	_, secret, err := c.reg.CreateSession(r.Context(), registry.SessionInput{
		Principal: p, Method: method, Source: throttle.Source(r), UserAgent: trimUA(r.UserAgent()), Idle: c.idle, Absolute: c.abs,
	}, c.now())
	if err != nil {
		c.logger.Error("start session", "err", err)
		c.errorPage(w, r, nil, http.StatusInternalServerError, "Signed in, but the session could not be stored. Try again.")
		return
	}
	clearCookie(w, loginCookie)
	setCookie(w, sessionCookie, secret, c.abs)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func trimUA(ua string) string {
	if len(ua) > 200 {
		return ua[:200]
	}
	return ua
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, v *view) {
	if err := c.reg.EndSession(r.Context(), v.Session.ID, c.now()); err != nil {
		c.logger.Error("end session", "err", err)
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (c *Console) signoutEverywhere(w http.ResponseWriter, r *http.Request, v *view) {
	if _, err := c.reg.EndSessions(r.Context(), v.Principal.ID, c.now()); err != nil {
		c.fail(w, r, v, err)
		return
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request, _ *view) {
	if c.sso == nil {
		c.errorPage(w, r, nil, http.StatusNotFound, "Single sign-on is not configured on this collector.")
		return
	}
	c.sso.Start(w, r, localNext(r.URL.Query().Get("next")))
}

// oidcCallback finishes an OIDC sign-in: the provider vouches for the
// person, the groups claim gives the role, and the registry finds or
// creates the principal just in time.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request, _ *view) {
	if c.sso == nil {
		c.errorPage(w, r, nil, http.StatusNotFound, "Single sign-on is not configured on this collector.")
		return
	}
	id, next, err := c.sso.Finish(r.Context(), w, r)
	if err != nil {
		detail := map[string]any{"method": "oidc", "reason": err.Error()}
		if aerr := c.reg.AuditOutside(r.Context(), "signin.failed", "oidc", audit.Denied, detail); aerr != nil {
			c.logger.Error("audit failed sign-in", "err", aerr)
		}
		c.logger.Warn("single sign-on failed", "err", err)
		c.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: "/ui/", Error: "Single sign-on failed: " + sso.PublicMessage(err)})
		return
	}
	p, err := c.reg.SSOPrincipal(r.Context(), registry.SSOIdentity{
		Issuer: id.Issuer, Subject: id.Subject, Name: id.Name, Email: id.Email, Role: id.Role, Groups: id.Groups,
	}, c.now())
	if err != nil {
		status, msg := http.StatusInternalServerError, "Signed in at the provider, but the collector could not record you. Try again."
		var fe *fault.Error
		if errors.Is(err, registry.ErrUnauthenticated) && errors.As(err, &fe) {
			status, msg = http.StatusForbidden, "The collector refused your sign-in: "+fe.Message+". Ask an administrator."
		}
		c.logger.Warn("single sign-on principal", "err", err)
		c.renderLogin(w, r, status, loginData{Next: "/ui/", Error: msg})
		return
	}
	c.startSession(w, r, p, "oidc", localNext(next))
}
