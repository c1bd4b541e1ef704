// Package console is the helpdesk's web console, served by the collector
// under /ui/: sign-in (local accounts and OIDC single sign-on), a search
// box, the device page that says why a device is or is not compliant and
// what to do, the fleet overview, lists with CSV export, exceptions,
// offboarding, reconciliation and the audit log.
//
// Pages are rendered on the server with html/template from files embedded
// in the binary (templates/, static/): no CDN, nothing inline, a strict
// Content-Security-Policy. A little JavaScript (static/console.js) filters
// as you type; every page works without it.
//
// The console is a second front door to the same registry use cases as the
// JSON API, behind the same permission table (access.Role.Can): every page
// and every form declares the permission it needs, the server refuses what
// the role may not do (and audits the refusal), and templates only hide
// what the role cannot use. Every POST carries the session's CSRF token.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/sso"
	"github.com/rosterhq/roster/collector/throttle"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Default session timeouts (config console.session_idle/session_absolute).
const (
	DefaultSessionIdle     = 30 * time.Minute
	DefaultSessionAbsolute = 12 * time.Hour
)

// Options configure the console.
type Options struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionIdle and SessionAbsolute bound a session; zero means the
	// defaults.
	SessionIdle, SessionAbsolute time.Duration
	// SSO is the OIDC provider when single sign-on is configured.
	SSO *sso.Provider
	// HostnameRule is the register's naming rule for the reconciliation
	// page (nil: none).
	HostnameRule *regexp.Regexp
}

// Console serves /ui/.
type Console struct {
	reg          *registry.Registry
	logger       *slog.Logger
	now          func() time.Time
	idle, abs    time.Duration
	sso          *sso.Provider
	hostnameRule *regexp.Regexp
	pages        map[string]*template.Template
	// limiter refuses a source that keeps failing to sign in, whatever
	// account names it tries (the registry locks each account).
	limiter *throttle.Limiter
	static  http.Handler
	mux     *http.ServeMux
}

// New returns the console; it fails only when the embedded templates do
// not parse, which the package's tests catch.
func New(opt Options) (*Console, error) {
	c := &Console{
		reg: opt.Registry, logger: opt.Logger, now: opt.Now,
		idle: opt.SessionIdle, abs: opt.SessionAbsolute, sso: opt.SSO, hostnameRule: opt.HostnameRule,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.idle <= 0 {
		c.idle = DefaultSessionIdle
	}
	if c.abs <= 0 {
		c.abs = DefaultSessionAbsolute
	}
	c.limiter = throttle.New(c.now, 0)
	var err error
	if c.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.StripPrefix("/ui/static/", http.FileServerFS(sub))
	c.mux = http.NewServeMux()
	for _, rt := range c.routes() {
		c.mux.HandleFunc(rt.pattern, c.guard(rt))
	}
	return c, nil
}

// route is one page or form with the permission it needs. Public routes
// (sign-in) need no session; the rest need one whose role holds perm.
type route struct {
	pattern string
	perm    access.Permission
	h       func(w http.ResponseWriter, r *http.Request, v *view)
}

func (c *Console) routes() []route {
	return []route{
		{"GET /ui/login", access.Public, c.loginPage},
		{"POST /ui/login", access.Public, c.login},
		{"GET /ui/auth/oidc/start", access.Public, c.oidcStart},
		{"GET /ui/auth/oidc/callback", access.Public, c.oidcCallback},
		{"POST /ui/signout", signedIn, c.signout},
		{"POST /ui/signout-everywhere", signedIn, c.signoutEverywhere},
		{"GET /ui/{$}", access.ComplianceRead, c.overview},
		{"GET /ui/search", access.DevicesRead, c.search},
		{"GET /ui/devices", access.DevicesRead, c.devices},
		{"GET /ui/devices/{id}", access.DevicesRead, c.device},
		{"GET /ui/devices/{id}/history", access.DevicesRead, c.deviceHistory},
		{"GET /ui/assets", access.AssetsRead, c.assets},
		{"GET /ui/flags", access.AssetsRead, c.flags},
		{"GET /ui/events", access.ComplianceRead, c.events},
		{"GET /ui/exceptions", access.ComplianceRead, c.exceptions},
		{"POST /ui/exceptions", access.ExceptionsRequest, c.requestException},
		{"GET /ui/exceptions/{id}", access.ComplianceRead, c.exception},
		{"POST /ui/exceptions/{id}/approve", access.ExceptionsApprove, c.approveException},
		{"POST /ui/exceptions/{id}/deny", access.ExceptionsApprove, c.denyException},
		{"GET /ui/offboarding", access.WipesRead, c.wipes},
		{"POST /ui/offboarding", access.WipesManage, c.startWipe},
		{"GET /ui/offboarding/{id}", access.WipesRead, c.wipe},
		{"POST /ui/offboarding/{id}/cancel", access.WipesManage, c.cancelWipe},
		{"GET /ui/offboarding/{id}/certificate", access.WipesRead, c.wipeCertificate},
		{"GET /ui/reconcile", access.AssetsRead, c.reconcile},
		{"GET /ui/audit", access.AuditRead, c.auditLog},
		{"GET /ui/account", signedIn, c.account},
	}
}

// signedIn is the permission of pages every signed-in principal may use
// (their own account, signing out); no role lacks it.
const signedIn access.Permission = "signed_in"

// ServeHTTP serves /ui/... and redirects / to /ui/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	switch {
	case r.URL.Path == "/" || r.URL.Path == "/ui":
		http.Redirect(w, r, "/ui/", http.StatusFound)
	case len(r.URL.Path) > len("/ui/static/") && r.URL.Path[:len("/ui/static/")] == "/ui/static/":
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	default:
		c.mux.ServeHTTP(w, r)
	}
}

// contentSecurityPolicy allows only the collector's own scripts, styles
// and images: no inline script or style, no eval, no framing, forms that
// post only here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Strict-Transport-Security", "max-age=31536000")
}
