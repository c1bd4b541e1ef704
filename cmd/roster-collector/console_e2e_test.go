package main

// The issue-14 web console end-to-end test, as people use it: the real
// roster-collector (one for the whole test, with a policy file and single
// sign-on configured), real agents replaying two captured hosts, local
// accounts made with rosterctl, a real OpenID provider on loopback
// (collector/sso/ssotest), and headless Chromium signing in, searching,
// reading why a device fails, requesting and approving an exception, being
// refused what its role may not do, and visiting every page at desktop and
// phone width with a screenshot and an axe-core check of each.
//
// Run it alone with
//
//	go test -run TestConsole -count=1 ./cmd/roster-collector/
//
// and keep the screenshots with -artifacts (they go under
// -outputdir, default the package directory, in _artifacts/; the test
// logs each directory as "=== ARTIFACTS TestConsole/... DIR"):
//
//	go test -run TestConsole -count=1 -artifacts -outputdir /tmp/console ./cmd/roster-collector/

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/rosterhq/roster/agent/host/hosttest"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/sso/ssotest"
)

// consolePolicies is the policy set of the test: disk encryption without
// a grace period, so the captured VM's unencrypted root fails at its first
// report, and a patch policy for a second row.
const consolePolicies = `policies:
  - id: UI-ENC-01
    title: All fixed volumes encrypted on confidential assets
    severity: high
    scope:
      classifications: [confidential]
    kind: disk_encryption
    params:
      scope: all_fixed
  - id: UI-PATCH-01
    title: Operating system updated within 30 days
    severity: medium
    kind: max_days_since_update
    params:
      days: 30
`

// The register: the Dell by its serial, the VM (no serial) linked by hand
// below, and a laptop no agent reports for (flagged missing).
const consoleRegister = "asset_tag,serial,type,owner,owner_email,classification,status\n" +
	"SRV-0042,7N62AI2,server,Platform Team,platform@example.com,confidential,in_service\n" +
	"VM-0001,,vm,Build Team,build@example.com,confidential,in_service\n" +
	"LAP-0099,PF1X2Y3Z,laptop,Ada Lovelace,ada@example.com,internal,in_service\n"

// consoleFixture is what the subtests share.
type consoleFixture struct {
	c       *collectortest.Collector
	sso     *ssotest.Provider
	browser context.Context
	// dell is the captured Dell server (serial 7N62AI2, encryption
	// unknown: its capture has no mount table); vm the captured Debian 12
	// VM (root /dev/vda not encrypted).
	dell, vm string
	// passwords of the local accounts, by user name.
	passwords map[string]string
}

const (
	helpdeskUser = "hd-alice"
	adminUser    = "adm-bob"
	ssoUser      = "sso-carol"
	ssoGroup     = "it-helpdesk"
)

// TestConsole runs the console's end-to-end checks against one collector.
// The subtests depend on the fixture, not on each other.
func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a collector, two agents, an OpenID provider and Chromium")
	}
	f := startConsoleFixture(t)
	t.Run("LocalAccounts", f.testLocalAccounts)
	t.Run("HelpdeskCannotApprove", f.testHelpdeskCannotApprove)
	t.Run("OIDC", f.testOIDC)
	t.Run("EveryPage", f.testEveryPage)
}

func startConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The OpenID provider needs the console's callback, which names the
	// collector's port: take a free one first.
	addr := freeLoopbackAddr(t)
	callback := "https://" + addr + "/ui/auth/oidc/callback"
	sso := ssotest.Start(t, []ssotest.User{{
		Username: ssoUser, Password: "carol-sso-password", Name: "Carol SSO", Email: "carol@example.com", Groups: []string{ssoGroup, "staff"},
	}}, callback)
	cfg := write("collector.yaml", "compliance:\n  policies: "+write("policies.yaml", consolePolicies)+"\n"+
		"console:\n  oidc:\n"+
		"    issuer: "+sso.Issuer+"\n"+
		"    client_id: "+sso.ClientID+"\n"+
		"    client_secret_file: "+write("oidc.secret", sso.ClientSecret+"\n")+"\n"+
		"    redirect_url: "+callback+"\n"+
		"    display_name: Example SSO\n"+
		"    roles:\n      "+ssoGroup+": helpdesk\n")
	c := collectortest.Start(t, collectorBin, collectortest.Options{Config: cfg, Args: []string{"--http3=false", "--listen", addr}})
	f := &consoleFixture{c: c, sso: sso, passwords: map[string]string{}}

	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", f.ctl(t, "secrets", "create", "--label", "console-e2e", "--expires", "1h", "--json"), &secret)
	dellRoot, err := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	if err != nil {
		t.Fatal(err)
	}
	vmRoot := hosttest.UnpackTemp(t, "../../testdata/hosts/linux/debian12-firecracker-vm/root.tar.gz")
	f.dell = enrolAndReport(t, c, secret.Secret, dellRoot)
	f.vm = enrolAndReport(t, c, secret.Secret, vmRoot)

	f.ctl(t, "assets", "import", write("register.csv", consoleRegister))
	f.ctl(t, "assets", "link", "VM-0001", f.vm)
	f.ctl(t, "assets", "refresh")

	for user, role := range map[string]string{helpdeskUser: "helpdesk", adminUser: "admin"} {
		f.passwords[user] = "correct horse battery " + user
		f.ctl(t, "users", "add", user, "--role", role, "--password-file", write(user+".password", f.passwords[user]+"\n"))
	}
	f.browser = startBrowser(t, c.CAFile)
	return f
}

// ctl runs rosterctl with the fixture's admin token, failing on an error.
func (f *consoleFixture) ctl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := rosterctl(t, f.c, f.c.AdminToken, args...)
	if code != 0 {
		t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// enrolAndReport enrols an agent replaying the captured host at root and
// sends one report, returning the device id.
func enrolAndReport(t *testing.T, c *collectortest.Collector, secret, root string) string {
	t.Helper()
	base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", root}
	out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("enroll %s: exit %d: %s", root, code, errOut)
	}
	var enrolled struct {
		DeviceID string `json:"device_id"`
	}
	decodeJSON(t, "enroll", out, &enrolled)
	if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, base...)...); code != 0 {
		t.Fatalf("report %s: exit %d: %s", root, code, errOut)
	}
	return enrolled.DeviceID
}

// freeLoopbackAddr is a TCP address on 127.0.0.1 nothing listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// person opens a tab for a new person (own cookies) at vp.
func (f *consoleFixture) person(t *testing.T, name string, vp viewport) *person {
	t.Helper()
	return newPerson(t, f.browser, name, f.c.URL, vp)
}

// signIn signs user in with the local account form, from wherever the
// console sends someone who is not signed in, and checks the page it
// lands on is the one asked for.
func (f *consoleFixture) signIn(t *testing.T, p *person, user, want string) {
	t.Helper()
	p.open(t, want)
	if got := p.path(t); !strings.HasPrefix(got, "/ui/login?next=") {
		t.Fatalf("%s: %s not signed in: at %s, want /ui/login?next=…", p.name, want, got)
	}
	p.typeInto(t, "#username", user)
	p.typeInto(t, "#password", f.passwords[user])
	if status := p.submit(t, "#signin"); status != 200 {
		t.Fatalf("%s: sign in as %s: status %d at %s; error %q", p.name, user, status, p.path(t), p.errorText(t))
	}
	if got := p.path(t); got != want {
		t.Fatalf("%s: signed in as %s at %s, want %s; error %q", p.name, user, got, want, p.errorText(t))
	}
	for _, sel := range []string{"form#search[role=search] input#q[name=q]", "form#signout[method=post][action='/ui/signout'] [type=submit]", "main#main"} {
		if !p.has(t, sel) {
			t.Errorf("%s: signed-in page %s has no %s", p.name, want, sel)
		}
	}
}

// signOut presses the header's sign-out button and checks the session is
// gone.
func (f *consoleFixture) signOut(t *testing.T, p *person) {
	t.Helper()
	if status := p.submit(t, "#signout [type=submit]"); status != 200 {
		t.Fatalf("%s: sign out: status %d at %s", p.name, status, p.path(t))
	}
	p.open(t, "/ui/")
	if got := p.path(t); !strings.HasPrefix(got, "/ui/login") {
		t.Fatalf("%s: after signing out, /ui/ shows %s, want the sign-in page", p.name, got)
	}
}

// errorText is the page's #error text, or "" without one.
func (p *person) errorText(t *testing.T) string {
	t.Helper()
	return eval[string](t, p, "read #error", `(document.querySelector("#error") || {}).textContent || ""`)
}

// search types q into the header's search box and presses Enter, and
// returns the hrefs of the results.
func (p *person) search(t *testing.T, q string) []string {
	t.Helper()
	p.do(t, "clear the search box", chromedp.Clear(chromedp.CSS("#q")))
	ctx, cancel := p.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.CSS("#q"), q+kb.Enter))
	if err != nil || responseStatus(resp) != 200 {
		t.Fatalf("%s: search %q: status %d, %v (at %s)", p.name, q, responseStatus(resp), err, p.location(t))
	}
	if got, want := p.path(t), "/ui/search?q="; !strings.HasPrefix(got, want) {
		t.Errorf("%s: search %q landed on %s, want %s…", p.name, q, got, want)
	}
	return eval[[]string](t, p, "read #results", `[...document.querySelectorAll("ol#results li a")].map(a => a.getAttribute("href"))`)
}

// policyRow is a row of the device page's #policies table.
type policyRow struct {
	Status string `json:"status"`
	Cell   string `json:"cell"`
	Reason string `json:"reason"`
	Remedy string `json:"remedy"`
}

// policy reads the #policies row of policy id; ok is false without one.
func (p *person) policy(t *testing.T, id string) (policyRow, bool) {
	t.Helper()
	raw := eval[[]byte](t, p, "read policy "+id, fmt.Sprintf(`(() => {
		const tr = document.querySelector(%q);
		if (!tr) return null;
		const cell = c => ((tr.querySelector(c) || {}).textContent || "").trim();
		return {status: tr.dataset.status, cell: cell(".status"), reason: cell(".reason"), remedy: cell(".remedy")};
	})()`, `#policies tr[data-policy="`+id+`"]`))
	if string(raw) == "null" {
		return policyRow{}, false
	}
	var r policyRow
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("policy row %s: %v", raw, err)
	}
	return r, true
}

var exceptionPath = regexp.MustCompile(`^/ui/exceptions/([^/?#]+)$`)

// testLocalAccounts: a helpdesk person finds a device by its serial and
// another by its asset tag, reads why the VM fails disk encryption,
// requests an exception; an admin approves it; the helpdesk person sees
// the exception approved and the policy exempt. Sign-ins and sign-outs
// are in the audit log.
func (f *consoleFixture) testLocalAccounts(t *testing.T) {
	hd := f.person(t, "helpdesk", desktop)
	// Unsigned, / leads to the sign-in page.
	hd.open(t, "/")
	if got := hd.path(t); !strings.HasPrefix(got, "/ui/login?next=") {
		t.Errorf("/ not signed in: at %s, want /ui/ then /ui/login?next=…", got)
	}
	hd.check(t, "login")
	// A wrong password: refused on the same form, said in #error.
	hd.typeInto(t, "#username", helpdeskUser)
	hd.typeInto(t, "#password", "not the password")
	hd.submit(t, "#signin")
	if got, msg := hd.path(t), hd.errorText(t); !strings.HasPrefix(got, "/ui/login") || msg == "" || !hd.has(t, "#error[role=alert]") {
		t.Errorf("wrong password: at %s, #error %q; want the sign-in page again with an alert", got, msg)
	}
	hd.check(t, "login-refused")
	f.signIn(t, hd, helpdeskUser, "/ui/")
	hd.check(t, "overview")

	// The Dell, by its serial: one result, its page names the serial and
	// says why its encryption is unknown (the capture has no mount table).
	hits := hd.search(t, "7N62AI2")
	if want := "/ui/devices/" + f.dell; len(hits) != 1 || hits[0] != want {
		t.Fatalf("search 7N62AI2: results %v, want only %s", hits, want)
	}
	hd.check(t, "search-serial")
	if status := hd.submit(t, `#results a[href="/ui/devices/`+f.dell+`"]`); status != 200 {
		t.Fatalf("open the Dell from the results: status %d", status)
	}
	if id := hd.text(t, "#identity"); !strings.Contains(id, "7N62AI2") {
		t.Errorf("Dell #identity %q, want its serial 7N62AI2", id)
	}
	if page := hd.text(t, "main"); !strings.Contains(page, "PowerEdge R6515") || !strings.Contains(page, "SRV-0042") {
		t.Errorf("the Dell's page does not name its model PowerEdge R6515 and asset SRV-0042:\n%s", page)
	}
	if r, ok := hd.policy(t, "UI-ENC-01"); !ok || r.Status != "unknown" || !strings.Contains(r.Reason, "mount table") {
		t.Errorf("Dell UI-ENC-01 row %+v (found %v), want unknown because the mount table was not read", r, ok)
	}
	hd.check(t, "device-dell")

	// The VM, by its asset tag: encryption fails, and the page says why
	// and what to do.
	hits = hd.search(t, "VM-0001")
	if want := "/ui/devices/" + f.vm; !slices.Contains(hits, want) {
		t.Fatalf("search VM-0001: results %v, want %s", hits, want)
	}
	hd.submit(t, `#results a[href="/ui/devices/`+f.vm+`"]`)
	r, ok := hd.policy(t, "UI-ENC-01")
	if !ok || r.Status != "fail" || !strings.Contains(r.Reason, "not encrypted") || !strings.Contains(r.Reason, "/dev/vda") || r.Remedy == "" {
		t.Fatalf("VM UI-ENC-01 row %+v (found %v), want fail saying /dev/vda is not encrypted, with a remedy", r, ok)
	}
	for _, sec := range []string{"#identity", "#health", "#encryption", "#patch", "#policies", "#flags", "#exceptions", "#software", "#history", "#wipe"} {
		if !hd.has(t, sec) {
			t.Errorf("VM device page has no %s section", sec)
		}
	}
	hd.check(t, "device-vm")

	// The software filter narrows the list as one types (no Enter).
	names := func() []string {
		return eval[[]string](t, hd, "read #software", `[...document.querySelectorAll("#software tbody tr td:first-child")].map(td => td.textContent.trim())`)
	}
	all := names()
	ctx, cancel := hd.step()
	_, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.CSS("#software-filter"), "python3"))
	cancel()
	if err != nil {
		t.Fatalf("filter the software list: %v", err)
	}
	filtered := names()
	if len(filtered) == 0 || len(filtered) >= len(all) || slices.ContainsFunc(filtered, func(n string) bool { return !strings.Contains(n, "python3") }) {
		t.Errorf("software filtered by python3: %v (of %d shown before), want only and some python3 packages", filtered, len(all))
	}
	hd.check(t, "device-vm-software-python3")

	// The exception request form.
	form := "form#exception-request[method=post][action='/ui/exceptions']"
	if !hd.has(t, form) {
		t.Fatalf("VM device page: no %s for the helpdesk", form)
	}
	// The form may sit in a closed <details>: open it as a person would.
	if closed := "details:not([open]):has(" + form + ") > summary"; hd.has(t, closed) {
		hd.do(t, "open the request form", chromedp.Click(chromedp.CSS(closed)))
	}
	expires := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	hd.set(t, form+" select[name=policy]", "UI-ENC-01")
	hd.typeInto(t, form+" textarea[name=reason]", "build VM, holds no user data")
	hd.typeInto(t, form+" textarea[name=control]", "the disk is discarded when the VM stops")
	hd.set(t, form+" input[type=date][name=expires]", expires)
	if status := hd.submit(t, form+" [type=submit]"); status != 200 {
		t.Fatalf("request an exception: status %d at %s; error %q", status, hd.path(t), hd.errorText(t))
	}
	m := exceptionPath.FindStringSubmatch(hd.path(t))
	if m == nil {
		t.Fatalf("after the request: at %s, want /ui/exceptions/{id}; error %q", hd.path(t), hd.errorText(t))
	}
	exID := m[1]
	if st := hd.text(t, "#exception .status"); strings.TrimSpace(st) != "pending" {
		t.Errorf("new exception status %q, want pending", st)
	}
	if hd.has(t, "form#approve") || hd.has(t, "form#deny") {
		t.Error("the helpdesk sees the approve or deny form, which its role may not use")
	}
	hd.check(t, "exception-pending")
	// Pending exempts nothing.
	hd.open(t, "/ui/devices/"+f.vm)
	if r, _ := hd.policy(t, "UI-ENC-01"); r.Status != "fail" {
		t.Errorf("with the exception pending: UI-ENC-01 %q, want still fail", r.Status)
	}
	f.signOut(t, hd)

	// An admin, in a browser context of her own, approves it.
	adm := f.person(t, "admin", desktop)
	f.signIn(t, adm, adminUser, "/ui/exceptions/"+exID)
	if !adm.has(t, "form#approve[method=post][action='/ui/exceptions/"+exID+"/approve'] textarea[name=note]") || !adm.has(t, "form#deny[action='/ui/exceptions/"+exID+"/deny']") {
		t.Fatal("the admin sees no approve and deny forms on a pending exception")
	}
	adm.check(t, "exception-to-approve")
	adm.typeInto(t, "form#approve textarea[name=note]", "SEC-42: accepted for 30 days")
	if status := adm.submit(t, "form#approve [type=submit]"); status != 200 {
		t.Fatalf("approve: status %d at %s; error %q", status, adm.path(t), adm.errorText(t))
	}
	// "active": approved and in force, the word the API and rosterctl use.
	if st := adm.text(t, "#exception .status"); strings.TrimSpace(st) != "active" {
		t.Errorf("after approval the admin sees status %q, want active", st)
	}
	adm.check(t, "exception-approved")

	// Back as the helpdesk: approved, and the device exempt.
	f.signIn(t, hd, helpdeskUser, "/ui/exceptions/"+exID)
	if st := hd.text(t, "#exception .status"); strings.TrimSpace(st) != "active" {
		t.Errorf("the helpdesk sees status %q, want active", st)
	}
	hd.open(t, "/ui/devices/"+f.vm)
	if r, _ := hd.policy(t, "UI-ENC-01"); r.Status != "exempt" {
		t.Errorf("after the approval: UI-ENC-01 row %+v, want exempt", r)
	}
	if ex := hd.text(t, "#exceptions"); !strings.Contains(ex, "UI-ENC-01") {
		t.Errorf("VM #exceptions %q, want the approved exception for UI-ENC-01", ex)
	}
	hd.check(t, "device-vm-exempt")
	f.signOut(t, hd)

	// The audit log has the sign-ins and the sign-out.
	var audit struct {
		Items []struct {
			PrincipalName string `json:"principal_name"`
			Action        string `json:"action"`
			Outcome       string `json:"outcome"`
		} `json:"items"`
	}
	decodeJSON(t, "audit log", f.ctl(t, "audit", "log", "--principal", helpdeskUser, "--all", "--json"), &audit)
	var signins, signouts int
	for _, e := range audit.Items {
		switch {
		case strings.Contains(e.Action, "signin"):
			signins++
		case strings.Contains(e.Action, "signout"):
			signouts++
		}
	}
	if signins < 2 || signouts < 2 {
		t.Errorf("audit log for %s: %d sign-ins and %d sign-outs, want 2 each; entries %+v", helpdeskUser, signins, signouts, audit.Items)
	}
}

// testHelpdeskCannotApprove: the server, not the page, refuses an approval
// from the helpdesk (a POST made by hand with a valid CSRF token), and
// refuses a form without its CSRF token even from an admin.
func (f *consoleFixture) testHelpdeskCannotApprove(t *testing.T) {
	var ex struct {
		ID string `json:"id"`
	}
	decodeJSON(t, "exceptions request", f.ctl(t, "exceptions", "request", "--device", f.dell, "--policy", "UI-ENC-01",
		"--reason", "rack server in a locked cage", "--control", "cage access logged", "--expires", "30d", "--json"), &ex)
	page := "/ui/exceptions/" + ex.ID

	hd := f.person(t, "helpdesk", desktop)
	f.signIn(t, hd, helpdeskUser, page)
	type answer struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	}
	post := func(p *person, withCSRF bool) answer {
		t.Helper()
		raw := eval[[]byte](t, p, "POST approve", fmt.Sprintf(`(async () => {
			const body = new URLSearchParams({note: "approved by hand"});
			if (%t) body.set("csrf", document.querySelector("input[type=hidden][name=csrf]").value);
			const r = await fetch(%q, {method: "POST", body, redirect: "manual", credentials: "same-origin"});
			return {status: r.status, type: r.type, body: r.type === "opaqueredirect" ? "" : await r.text()};
		})()`, withCSRF, page+"/approve"))
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("POST answer %s: %v", raw, err)
		}
		return a
	}
	if a := post(hd, true); a.Status != 403 || !strings.Contains(a.Body, `id="error"`) {
		t.Errorf("helpdesk POST approve with a valid CSRF token: status %d (%s), body has #error: %v; want 403 with #error",
			a.Status, a.Type, strings.Contains(a.Body, `id="error"`))
	}
	if a := post(hd, false); a.Status != 403 {
		t.Errorf("helpdesk POST approve without a CSRF token: status %d (%s), want 403", a.Status, a.Type)
	}

	// An admin may approve, but not through a form stripped of its token:
	// the page she is shown says why.
	adm := f.person(t, "admin", desktop)
	f.signIn(t, adm, adminUser, page)
	adm.do(t, "remove the CSRF field", chromedp.Evaluate[chromedp.Void](`document.querySelector("form#approve input[name=csrf]").remove()`))
	if status := adm.submit(t, "form#approve [type=submit]"); status != 403 {
		t.Errorf("admin approve form without its CSRF token: status %d, want 403", status)
	}
	if msg := adm.errorText(t); !regexp.MustCompile(`(?i)expired|not sent from this site`).MatchString(msg) {
		t.Errorf("refusal #error %q, want it to say the form expired or was not sent from this site", msg)
	}
	adm.check(t, "refused-no-csrf")
	// A token from another session is no better.
	adm.open(t, page)
	adm.do(t, "forge the CSRF field", chromedp.SetAttributeValue(chromedp.CSS("form#approve input[name=csrf]"), "value", "forged-"+ex.ID))
	if status := adm.submit(t, "form#approve [type=submit]"); status != 403 {
		t.Errorf("admin approve form with a wrong CSRF token: status %d, want 403", status)
	}

	// Nothing was approved.
	var got struct {
		Status string `json:"status"`
	}
	decodeJSON(t, "exceptions show", f.ctl(t, "exceptions", "show", ex.ID, "--json"), &got)
	if got.Status != "pending" {
		t.Errorf("after the refused POSTs the exception is %q, want pending", got.Status)
	}

	// With its token the admin's deny form works.
	adm.open(t, page)
	adm.typeInto(t, "form#deny textarea[name=note]", "a locked cage is not encryption")
	if status := adm.submit(t, "form#deny [type=submit]"); status != 200 {
		t.Fatalf("deny: status %d at %s; error %q", status, adm.path(t), adm.errorText(t))
	}
	if st := adm.text(t, "#exception .status"); strings.TrimSpace(st) != "denied" {
		t.Errorf("after denial the admin sees status %q, want denied", st)
	}
	adm.check(t, "exception-denied")
}

// testOIDC: a person in the provider's it-helpdesk group signs in through
// single sign-on (the provider's own login form) and lands on the
// overview as that user, with the helpdesk role.
func (f *consoleFixture) testOIDC(t *testing.T) {
	p := f.person(t, "sso", desktop)
	p.open(t, "/ui/")
	if got := p.path(t); !strings.HasPrefix(got, "/ui/login?next=") {
		t.Fatalf("not signed in: at %s, want /ui/login?next=…", got)
	}
	if href := browse(t, p, "read #sso", chromedp.AttributeValue(chromedp.CSS("a#sso"), "href")); !strings.HasPrefix(href.Value, "/ui/auth/oidc/start") {
		t.Errorf("#sso href %q, want /ui/auth/oidc/start…", href.Value)
	}
	p.check(t, "login-with-sso")
	p.submit(t, "a#sso")
	if got := browse(t, p, "read the URL", chromedp.Location()); !strings.HasPrefix(got, f.sso.Issuer+"/login") {
		t.Fatalf("after #sso: at %s, want the provider's sign-in page %s/login…", got, f.sso.Issuer)
	}
	p.screenshot(t, "provider-login")
	p.typeInto(t, "#username", ssoUser)
	p.typeInto(t, "#password", "carol-sso-password")
	ctx, cancel := p.step()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form#login button[name="sign-in"]`)))
	cancel()
	if err != nil || responseStatus(resp) != 200 {
		t.Fatalf("provider sign-in: status %d, %v, at %s; error %q; browser console %q", responseStatus(resp), err, p.location(t), p.errorText(t), p.consoleProblems())
	}
	if got := p.path(t); got != "/ui/" {
		t.Fatalf("after single sign-on: at %s (%s), want /ui/; error %q", got, p.location(t), p.errorText(t))
	}
	if hdr := p.text(t, "header"); !strings.Contains(hdr, ssoUser) && !strings.Contains(hdr, "Carol SSO") {
		t.Errorf("header %q does not name the signed-in user %s", hdr, ssoUser)
	}
	p.check(t, "overview-sso")
	// Just in time: the user now exists, with the mapped role. (Its
	// principal name may be the provider's name claim; the email is the
	// provider's.)
	type user struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	var users struct {
		Items []user `json:"items"`
	}
	decodeJSON(t, "users list", f.ctl(t, "users", "list", "--json"), &users)
	i := slices.IndexFunc(users.Items, func(u user) bool { return u.Email == "carol@example.com" })
	if i < 0 || users.Items[i].Role != "helpdesk" {
		t.Errorf("users list after single sign-on: %+v, want carol@example.com with role helpdesk", users.Items)
	}
	// The helpdesk role reads devices but not the audit log.
	if resp := p.open(t, "/ui/audit"); resp.Status != 403 {
		t.Errorf("/ui/audit as an SSO helpdesk: status %d, want 403", resp.Status)
	}
}

// consolePage is a signed-in page: the elements the contract says it
// has, and a text the fixture's data puts in it.
type consolePage struct {
	name, path string
	want       []string
	text       string
}

// consolePages are the signed-in pages an admin sees.
func (f *consoleFixture) consolePages(exceptionID, wipeID string) []consolePage {
	list := []string{"table#list"}
	return []consolePage{
		{"overview", "/ui/", []string{"#by-policy", "#by-state", "#trend svg", "#counts a"}, "UI-ENC-01"},
		{"search", "/ui/search?q=7N62AI2", []string{"ol#results li a"}, "7N62AI2"},
		{"device-dell", "/ui/devices/" + f.dell, []string{"#identity", "#policies tr[data-policy]", "#wipe"}, "SRV-0042"},
		{"device-vm", "/ui/devices/" + f.vm, []string{"#identity", "#policies tr[data-policy]", "#software-filter"}, "VM-0001"},
		{"exception", "/ui/exceptions/" + exceptionID, []string{"#exception .status", "form#approve", "form#deny"}, "UI-PATCH-01"},
		{"devices", "/ui/devices", list, "7N62AI2"},
		{"assets", "/ui/assets", list, "SRV-0042"},
		{"flags", "/ui/flags", list, "LAP-0099"},
		{"events", "/ui/events", list, ""},
		{"exceptions", "/ui/exceptions", list, "UI-PATCH-01"},
		{"offboarding", "/ui/offboarding", list, "HR-123"},
		{"offboarding-dell", "/ui/offboarding/" + wipeID, []string{"main"}, "HR-123"},
		// Reconciliation is four tables (unregistered, missing, not in
		// service, mismatches), not one list.
		{"reconcile", "/ui/reconcile", []string{"#h-unreg", "#h-missing", "#h-nis", "#h-mis"}, "LAP-0099"},
		{"audit", "/ui/audit", list, adminUser},
		// Beyond the contract's list: pages the console also serves.
		{"device-vm-history", "/ui/devices/" + f.vm + "/history", []string{"main#main"}, "enrol"},
		{"account", "/ui/account", []string{"main#main"}, adminUser},
	}
}

// listPages have a CSV form at the same URL.
var listPages = []string{"/ui/devices", "/ui/assets", "/ui/flags", "/ui/events", "/ui/exceptions", "/ui/offboarding", "/ui/reconcile", "/ui/audit"}

// testEveryPage: an admin visits every page at desktop and phone width;
// each is screenshotted and checked with axe-core, served with a strict
// CSP, shows what the contract says it holds, and on a phone does not
// scroll sideways. Each list also answers as CSV.
func (f *consoleFixture) testEveryPage(t *testing.T) {
	var ex struct {
		ID string `json:"id"`
	}
	decodeJSON(t, "exceptions request", f.ctl(t, "exceptions", "request", "--device", f.vm, "--policy", "UI-PATCH-01",
		"--reason", "updates wait for the next image", "--control", "rebuilt weekly", "--expires", "7d", "--json"), &ex)
	// An offboarding in progress, so its list and page have something to
	// show (manual: nothing waits for the agent).
	wipeID := strings.TrimSpace(f.ctl(t, "offboard", "start", f.dell, "--ticket", "HR-123", "--reason", "leaver", "--method", "manual"))
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			p := f.person(t, "admin", vp)
			f.signIn(t, p, adminUser, "/ui/")
			for _, pg := range f.consolePages(ex.ID, wipeID) {
				resp := p.open(t, pg.path)
				if resp.Status != 200 {
					t.Errorf("%s: status %d, want 200", pg.path, resp.Status)
				}
				csp := header(resp, "Content-Security-Policy")
				if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
					t.Errorf("%s: Content-Security-Policy %q, want a strict one (no unsafe-inline or unsafe-eval)", pg.path, csp)
				}
				for _, sel := range pg.want {
					if !p.has(t, sel) {
						t.Errorf("%s (%s): no %s", pg.path, vp.name, sel)
					}
				}
				if body := p.text(t, "main"); !strings.Contains(body, pg.text) {
					t.Errorf("%s (%s): the page does not show %q", pg.path, vp.name, pg.text)
				}
				if vp.mobile {
					if w := eval[[]int](t, p, "measure", `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
						t.Errorf("%s on a phone: the page is %dpx wide in a %dpx viewport (scrolls sideways)", pg.path, w[0], w[1])
					}
				}
				p.check(t, pg.name)
			}
			if vp.mobile {
				return
			}
			// Paging: one device a page (?limit= asks for fewer rows than
			// the console's default), the next page by a[rel=next].
			rows := func() []string {
				return eval[[]string](t, p, "read #list", `[...document.querySelectorAll("table#list tbody tr")].map(tr => tr.textContent.replace(/\s+/g, " ").trim())`)
			}
			p.open(t, "/ui/devices?limit=1")
			first := rows()
			if len(first) != 1 || !p.has(t, "a[rel=next]") {
				t.Errorf("/ui/devices?limit=1: rows %q, next link %v; want one row and a[rel=next]", first, p.has(t, "a[rel=next]"))
			} else {
				p.submit(t, "a[rel=next]")
				second := rows()
				if len(second) != 1 || second[0] == first[0] || p.has(t, "a[rel=next]") {
					t.Errorf("the next page of two devices: rows %q after %q, next link %v; want the other device and no next link", second, first, p.has(t, "a[rel=next]"))
				}
			}
			for _, path := range listPages {
				p.open(t, path)
				csv := eval[[]string](t, p, "fetch CSV", fmt.Sprintf(`fetch(%q, {credentials: "same-origin"}).then(async r => [String(r.status), r.headers.get("Content-Type") || "", await r.text()])`, path+"?format=csv"))
				if csv[0] != "200" || !strings.HasPrefix(csv[1], "text/csv") || !strings.Contains(strings.SplitN(csv[2], "\n", 2)[0], ",") {
					t.Errorf("%s?format=csv: status %s, type %q, first line %q; want 200 text/csv with a header row", path, csv[0], csv[1], strings.SplitN(csv[2], "\n", 2)[0])
				}
			}
		})
	}
}
