package main

// The browser half of the console's end-to-end tests: a headless Chromium
// (Debian's package, scripts/deps.sh installs it) driven by chromedp, that
// trusts the test collector's CA through a throwaway NSS database rather
// than ignoring certificate errors; a tab per person (its own browser
// context, so its own cookies) at a desktop or phone size; and a check of
// each page a person sees: a full-page screenshot in the test's artifact
// directory and axe-core (tools/axe, npm ci by scripts/deps.sh) injected
// into it, failing on any serious or critical violation.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium launcher.
const chromiumPath = "/usr/bin/chromium"

// axePath is axe-core as tools/axe's lockfile pins it, relative to this
// package's directory (go test runs in it).
const axePath = "../../tools/axe/node_modules/axe-core/axe.min.js"

// browserStepTimeout bounds one browser step (a navigation, a query that
// waits for an element): a failure bound, not a synchronisation delay.
const browserStepTimeout = 30 * time.Second

type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop = viewport{"desktop", 1280, 900, false}
	phone   = viewport{"phone", 390, 844, true}
)

// startBrowser starts one headless Chromium for the test that trusts the
// CA in caFile (PEM) and nothing else extra. Chromium on Linux reads
// trust anchors from the NSS database in $HOME/.pki/nssdb, so the browser
// gets a HOME of its own holding a database certutil made with only that
// CA. The browser ends with the test.
func startBrowser(t *testing.T, caFile string) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no Chromium at %s (scripts/deps.sh test installs Debian's chromium): %v", chromiumPath, err)
	}
	home := t.TempDir()
	nssdb := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(nssdb, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + nssdb, "--empty-password"},
		{"-A", "-d", "sql:" + nssdb, "-n", "roster-e2e-ca", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s (libnss3-tools, scripts/deps.sh installs it): %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		// Tests run as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home),
		// Nothing but loopback: no component updates, no QUIC probing.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// person is one person's tab: a browser context of its own (cookies and
// storage apart from everyone else's) at one viewport.
type person struct {
	name string
	base string
	ctx  context.Context
	vp   viewport
	axe  string
	// shots numbers the screenshots so the directory lists them in the
	// order they were taken.
	shots *atomic.Int32

	mu sync.Mutex
	// problems are the console messages that say a page is broken (a
	// Content-Security-Policy refusal, an uncaught exception) not yet
	// reported.
	problems []string
}

// newPerson opens a tab in a new browser context of the browser.
func newPerson(t *testing.T, browser context.Context, name, base string, vp viewport) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab and ties it to the context it is given:
	// that must be the tab's own, not a step's that ends with the step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	p := &person{name: name, base: base, ctx: ctx, vp: vp, axe: axeSource(t), shots: &atomic.Int32{}}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				p.mu.Lock()
				p.problems = append(p.problems, fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				p.mu.Unlock()
			}
		}
	}()
	p.resize(t, vp)
	return p
}

// consoleProblems returns the console problems since the last call.
func (p *person) consoleProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.problems
	p.problems = nil
	return got
}

// resize emulates the viewport (a phone: mobile, so the page's viewport
// meta tag applies, and touch).
func (p *person) resize(t *testing.T, vp viewport) {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	p.do(t, "emulate "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
	p.vp = vp
}

func (p *person) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, browserStepTimeout)
}

// do runs browser steps, failing the test with what was being done.
func (p *person) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %s: %v (at %s)", p.name, what, err, p.location(t))
	}
}

// run runs one browser action that returns a value.
func browse[T any](t *testing.T, p *person, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %s: %v (at %s)", p.name, what, err, p.location(t))
	}
	return v
}

// location is the tab's URL, for messages; it never fails the test.
func (p *person) location(t *testing.T) string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown URL"
	}
	return u
}

// path is the tab's URL path with its query.
func (p *person) path(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(browse(t, p, "read the URL", chromedp.Location()))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// open navigates to path (relative to the collector) and returns the final
// response (after redirects, as the person sees it).
func (p *person) open(t *testing.T, path string) *network.Response {
	t.Helper()
	resp := browse(t, p, "open "+path, chromedp.NavigateResponse(p.base+path))
	if resp == nil {
		t.Fatalf("%s: open %s: no response", p.name, path)
	}
	return resp
}

// header is a response header's value, whatever the case of its name
// (HTTP/2 sends them in lower case).
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// submit clicks sel (a submit button or link) and waits for the page it
// leads to, returning that response's status.
func (p *person) submit(t *testing.T, sel string) int64 {
	t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("%s: click %s: %v (at %s)", p.name, sel, err, p.location(t))
	}
	return responseStatus(resp)
}

func responseStatus(resp *network.Response) int64 {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// typeInto types text into the field sel as a person would (after
// clearing it).
func (p *person) typeInto(t *testing.T, sel, text string) {
	t.Helper()
	// Emptied by script: chromedp's Clear fails on an empty textarea, and
	// its SetValue refuses "".
	p.do(t, "type into "+sel,
		chromedp.WaitReady(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).value = ''", sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text))
}

// set sets a field's value directly: for a select or a date input, whose
// keyboard entry depends on the locale.
func (p *person) set(t *testing.T, sel, value string) {
	t.Helper()
	p.do(t, "set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// text is the visible text of the first element matching sel, waiting for
// it to be there.
func (p *person) text(t *testing.T, sel string) string {
	t.Helper()
	return browse(t, p, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
}

// has reports whether an element matches sel now (no waiting).
func (p *person) has(t *testing.T, sel string) bool {
	t.Helper()
	return browse(t, p, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
}

// eval evaluates a JavaScript expression in the page, awaiting a promise.
func eval[T any](t *testing.T, p *person, what, expr string) T {
	t.Helper()
	return browse(t, p, what, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// axeViolation is what axe-core says of one failed rule.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeSource is axe.min.js, read once per call site.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("axe-core: %v (scripts/deps.sh test runs npm ci in tools/axe)", err)
	}
	return string(b)
}

// check is what every visited page gets: a full-page screenshot written to
// the test's artifact directory (kept with `go test -artifacts`), the
// browser console's problems since the last check (a CSP refusal, an
// uncaught exception) reported, and axe-core run on it, failing the test
// on each serious or critical violation. name says which page it is.
func (p *person) check(t *testing.T, name string) {
	t.Helper()
	p.screenshot(t, name)
	for _, m := range p.consoleProblems() {
		t.Errorf("%s (%s, %s): browser console: %s", name, p.path(t), p.vp.name, m)
	}
	for _, v := range p.axeRun(t) {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s (%s, %s): axe %s (%s): %s; at %s", name, p.path(t), p.vp.name, v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
		}
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot writes a full-page PNG of the tab.
func (p *person) screenshot(t *testing.T, name string) {
	t.Helper()
	png := browse(t, p, "screenshot "+name, chromedp.FullScreenshot(100))
	n := p.shots.Add(1)
	file := filepath.Join(t.ArtifactDir(), fmt.Sprintf("%02d-%s-%s-%s.png", n, unsafeName.ReplaceAllString(p.name, "_"), unsafeName.ReplaceAllString(name, "_"), p.vp.name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// axeRun injects axe-core (unless the page has it already) and runs it on
// the whole document. Runtime.evaluate, which chromedp uses, runs as the
// DevTools console does and is not subject to the page's
// Content-Security-Policy, so the console's strict CSP needs no hole for
// the test.
func (p *person) axeRun(t *testing.T) []axeViolation {
	t.Helper()
	if !eval[bool](t, p, "look for axe", `typeof window.axe === "object"`) {
		browse(t, p, "inject axe-core", chromedp.Evaluate[chromedp.Void](p.axe))
		if !eval[bool](t, p, "look for axe", `typeof window.axe === "object"`) {
			t.Fatalf("%s: axe-core did not load into %s", p.name, p.path(t))
		}
	}
	raw := eval[[]byte](t, p, "run axe", `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		targets: v.nodes.map(n => n.target.map(String).join(" > "))
	}))))`)
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("axe result %s: %v", raw, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(s), &vs); err != nil {
		t.Fatalf("axe result %s: %v", s, err)
	}
	return vs
}
