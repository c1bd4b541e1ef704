package console_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/console"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	srv    *httptest.Server
	reg    *registry.Registry
	clock  *clock
	device string
	ca     *pki.CA
}

const password = "correct horse battery staple"

// newFixture serves the console over TLS on loopback with a registry
// holding one device (the richest captured host, reported in full), an
// admin "ada" and a helpdesk "hal".
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{clock: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}}
	var err error
	if f.reg, err = registry.OpenAndMigrate(ctx, registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dir, "roster.db")}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.reg.Close() })
	if f.ca, _, err = pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	snap := registrytest.Rich(t)
	_, secret, err := f.reg.CreateSecret(ctx, "test", time.Hour, 1, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := registrytest.CSR(t)
	res, err := f.reg.Enroll(ctx, registry.EnrollInput{Secret: secret, Identity: wire.IdentityOf(snap), AgentVersion: "test", Now: f.clock.Now()},
		func(id string) ([]byte, *x509.Certificate, error) {
			return f.ca.SignClient(csr, id, f.clock.Now(), pki.ClientValidity)
		})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(res.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	rep := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: 1, Snapshot: snap, Hash: registrytest.Hash(t, snap)}
	if _, err := f.reg.ApplyReport(ctx, registry.ReportInput{DeviceID: res.DeviceID, CertSerial: pki.SerialHex(cert), Report: rep, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.device = res.DeviceID
	for _, u := range []registry.UserInput{{Name: "ada", Role: access.Admin, Password: password}, {Name: "hal", Role: access.Helpdesk, Password: password}} {
		if _, err := f.reg.CreateUser(ctx, u, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c, err := console.New(console.Options{Registry: f.reg, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(c)
	f.srv.TLS = f.ca.ServerTLS(nil)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a client with a cookie jar that does not follow redirects,
// so tests see each 303.
type browser struct {
	t    *testing.T
	f    *fixture
	c    *http.Client
	csrf string
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool(), MinVersion: tls.VersionTLS13}}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, f: f, c: &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.c.Get(b.f.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.f.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *browser) read(resp *http.Response) page {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) signIn(name string) {
	b.t.Helper()
	b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {b.csrf}, "username": {name}, "password": {password}, "next": {"/ui/devices"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/devices" {
		b.t.Fatalf("sign in as %s: %d %s\n%s", name, p.status, p.header.Get("Location"), p.body)
	}
	b.get("/ui/devices") // picks up the session's CSRF token
}

func TestSignInAndSessions(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	p := b.get("/ui/devices")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login?next=%2Fui%2Fdevices" {
		t.Fatalf("signed out: %d %q", p.status, p.header.Get("Location"))
	}
	if p := b.get("/"); p.status != http.StatusFound || p.header.Get("Location") != "/ui/" {
		t.Errorf("/ = %d %q, want a redirect to /ui/", p.status, p.header.Get("Location"))
	}
	login := b.get("/ui/login")
	if !strings.Contains(login.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("no strict CSP: %q", login.header.Get("Content-Security-Policy"))
	}
	// The sign-in form without its token is refused even with the right password.
	if p := b.post("/ui/login", url.Values{"username": {"ada"}, "password": {password}}); p.status != http.StatusForbidden || !strings.Contains(p.body, `id="error"`) {
		t.Errorf("login without csrf: %d", p.status)
	}
	b.get("/ui/login")
	if p := b.post("/ui/login", url.Values{"csrf": {b.csrf}, "username": {"ada"}, "password": {"wrong password!"}}); p.status != http.StatusUnauthorized ||
		!strings.Contains(p.body, "Wrong user name, password or code.") {
		t.Errorf("wrong password: %d\n%s", p.status, p.body)
	}
	b.signIn("ada")
	var session *http.Cookie
	u, _ := url.Parse(f.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "__Host-roster_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	if p := b.get("/ui/"); p.status != http.StatusOK || !strings.Contains(p.body, `id="by-policy"`) {
		t.Fatalf("overview: %d", p.status)
	}
	// Idle past the timeout: the session is over.
	f.clock.Add(console.DefaultSessionIdle + time.Minute)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("after idling: %d, want a redirect to sign in", p.status)
	}
	b.signIn("ada")
	// Sign out needs the token too, then the session is gone for good.
	if p := b.post("/ui/signout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("sign out without csrf: %d", p.status)
	}
	if p := b.post("/ui/signout", url.Values{"csrf": {b.csrf}}); p.status != http.StatusSeeOther {
		t.Errorf("sign out: %d", p.status)
	}
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", p.status)
	}
	entries, _, err := f.reg.ListAudit(context.Background(), registry.AuditFilter{Action: "sign*"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+"/"+e.Outcome)
	}
	for _, want := range []string{"signin/ok", "signin.failed/denied", "signout/ok"} {
		found := false
		for _, a := range actions {
			found = found || a == want
		}
		if !found {
			t.Errorf("audit log has no %s: %v", want, actions)
		}
	}
}

// Every page renders for an admin, with no inline script or style (the
// CSP would block them), and lists export as CSV.
func TestEveryPageRenders(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("ada")
	for _, path := range []string{
		"/ui/", "/ui/search?q=" + f.device[:8], "/ui/devices", "/ui/devices/" + f.device, "/ui/devices/" + f.device + "/history",
		"/ui/devices/" + f.device + "?software=lib", "/ui/assets", "/ui/flags", "/ui/events", "/ui/exceptions", "/ui/offboarding",
		"/ui/reconcile", "/ui/audit", "/ui/account",
	} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Errorf("%s: %d\n%s", path, p.status, p.body)
			continue
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "<style") {
			t.Errorf("%s has inline script or style", path)
		}
		if !strings.Contains(p.body, `<main id="main"`) || !strings.Contains(p.body, `id="search"`) {
			t.Errorf("%s lacks the layout", path)
		}
	}
	dev := b.get("/ui/devices/" + f.device)
	for _, id := range []string{"identity", "health", "encryption", "patch", "policies", "flags", "exceptions", "software", "history", "wipe"} {
		if !strings.Contains(dev.body, `id="`+id+`"`) {
			t.Errorf("device page has no #%s", id)
		}
	}
	if !strings.Contains(dev.body, `data-policy="CFG-ENC-01"`) {
		t.Error("device page lists no CFG-ENC-01 result")
	}
	if s := b.get("/ui/search?q=" + f.device[:8]); !strings.Contains(s.body, `href="/ui/devices/`+f.device+`"`) {
		t.Errorf("search by id prefix does not find the device:\n%s", s.body)
	}
	csv := b.get("/ui/devices?format=csv")
	if csv.status != http.StatusOK || csv.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(csv.body, "Hostname,Serial,") ||
		!strings.Contains(csv.body, f.device) {
		t.Errorf("devices CSV: %d %q\n%s", csv.status, csv.header.Get("Content-Type"), csv.body)
	}
}

// The helpdesk asks for an exception, may not approve it (not even by a
// hand-made POST), an admin does, and the device is exempt.
func TestExceptionFlowAndPermissions(t *testing.T) {
	f := newFixture(t)
	hal := f.browser(t)
	hal.signIn("hal")
	if p := hal.get("/ui/audit"); p.status != http.StatusForbidden || !strings.Contains(p.body, "helpdesk role may not") {
		t.Errorf("helpdesk reads the audit log: %d", p.status)
	}
	dev := hal.get("/ui/devices/" + f.device)
	if !strings.Contains(dev.body, `id="exception-request"`) {
		t.Fatal("no exception form for the helpdesk")
	}
	if strings.Contains(dev.body, `id="offboard-start"`) {
		t.Error("the helpdesk is offered offboarding, which its role may not start")
	}
	policy := regexp.MustCompile(`<option value="([A-Z0-9-]+)">`).FindStringSubmatch(dev.body)
	if policy == nil {
		t.Fatal("no policy to ask an exception for")
	}
	expires := f.clock.Now().AddDate(0, 0, 30).Format(time.DateOnly)
	form := url.Values{"device": {f.device}, "policy": {policy[1]}, "reason": {"waiting for a replacement laptop"},
		"control": {"device kept in the office safe"}, "expires": {expires}}
	if p := hal.post("/ui/exceptions", form); p.status != http.StatusForbidden {
		t.Errorf("exception request without csrf: %d", p.status)
	}
	form.Set("csrf", hal.csrf)
	p := hal.post("/ui/exceptions", form)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/exceptions/") {
		t.Fatalf("request exception: %d\n%s", p.status, p.body)
	}
	excURL := p.header.Get("Location")
	exc := hal.get(excURL)
	if !strings.Contains(exc.body, `class="status st st-pending"`) || strings.Contains(exc.body, `id="approve"`) {
		t.Errorf("helpdesk view of a pending exception:\n%s", exc.body)
	}
	if p := hal.post(excURL+"/approve", url.Values{"csrf": {hal.csrf}}); p.status != http.StatusForbidden {
		t.Errorf("helpdesk approving by hand-made POST: %d", p.status)
	}
	ada := f.browser(t)
	ada.signIn("ada")
	if p := ada.post(excURL+"/approve", url.Values{"csrf": {"forged"}}); p.status != http.StatusForbidden {
		t.Errorf("approve with a wrong csrf token: %d", p.status)
	}
	ada.get(excURL)
	if p := ada.post(excURL+"/approve", url.Values{"csrf": {ada.csrf}, "note": {"ok till the replacement"}}); p.status != http.StatusSeeOther {
		t.Fatalf("admin approves: %d\n%s", p.status, p.body)
	}
	if exc := hal.get(excURL); !strings.Contains(exc.body, `class="status st st-active"`) {
		t.Errorf("after approval the helpdesk sees:\n%s", exc.body)
	}
	row := regexp.MustCompile(`data-policy="` + policy[1] + `" data-status="([a-z_]+)"`).FindStringSubmatch(hal.get("/ui/devices/" + f.device).body)
	if row == nil || row[1] != "exempt" {
		t.Errorf("policy %s after approval: %v, want exempt", policy[1], row)
	}
	denied, _, err := f.reg.ListAudit(context.Background(), registry.AuditFilter{Action: "request.denied"})
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) < 3 {
		t.Errorf("%d denied requests audited, want the audit read, the csrf-less request and the approval", len(denied))
	}
}

// Offboarding from the page needs the hostname typed to confirm.
func TestOffboardingNeedsConfirmation(t *testing.T) {
	f := newFixture(t)
	ada := f.browser(t)
	ada.signIn("ada")
	d, err := f.reg.Device(context.Background(), f.device)
	if err != nil {
		t.Fatal(err)
	}
	ada.get("/ui/devices/" + f.device)
	form := url.Values{"csrf": {ada.csrf}, "device": {f.device}, "ticket": {"HR-1"}, "reason": {"leaver"}, "method": {"agent"}, "confirm": {"not-it"}}
	if p := ada.post("/ui/offboarding", form); p.status != http.StatusBadRequest || !strings.Contains(p.body, "nothing was started") {
		t.Errorf("wrong confirmation: %d", p.status)
	}
	name := d.Hostname
	if name == "" {
		name = d.SystemSerial
	}
	form.Set("confirm", strings.ToUpper(name))
	p := ada.post("/ui/offboarding", form)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/offboarding/") {
		t.Fatalf("start offboarding: %d\n%s", p.status, p.body)
	}
	w := ada.get(p.header.Get("Location"))
	if !strings.Contains(w.body, "st-requested") || !strings.Contains(w.body, `id="timeline"`) {
		t.Errorf("wipe page:\n%s", w.body)
	}
}

// A source that keeps failing is refused before its passwords are checked,
// whichever accounts it tries.
func TestSignInThrottledPerSource(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	for i := range 10 {
		b.get("/ui/login")
		name := fmt.Sprintf("user%d", i)
		if p := b.post("/ui/login", url.Values{"csrf": {b.csrf}, "username": {name}, "password": {"not the password"}}); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, p.status)
		}
	}
	b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {b.csrf}, "username": {"ada"}, "password": {password}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed sign-ins from your address") {
		t.Fatalf("11th attempt with the right password: %d %q", p.status, p.header.Get("Retry-After"))
	}
	f.clock.Add(time.Minute)
	b.signIn("ada")
}
