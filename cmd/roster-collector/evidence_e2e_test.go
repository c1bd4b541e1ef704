package main

// The issue-16 evidence end-to-end test with the real binaries on
// loopback: an agent reports, an auditor exports the period's bundle with
// rosterctl, the collector's published key (roster-collector ca
// command-key) verifies it offline, its index.html passes the
// accessibility check in Chromium, and one changed byte fails naming the
// file.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

func TestEvidenceEndToEnd(t *testing.T) {
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--label", "e2e", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)
	dellRoot, _ := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	deviceID := enrolAndReport(t, c, secret.Secret, dellRoot)
	out, errOut, code = rosterctl(t, c, c.AdminToken, "tokens", "create", "--principal", "ines-auditor", "--role", "auditor", "--expires", "1d", "--json")
	if code != 0 {
		t.Fatalf("tokens create: exit %d: %s", code, errOut)
	}
	var created struct {
		Token string `json:"token"`
	}
	decodeJSON(t, "tokens create", out, &created)

	dir := t.TempDir()
	from := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	bundleDir := filepath.Join(dir, "evidence")
	if out, errOut, code := rosterctl(t, c, created.Token, "evidence", "export", "--from", from, "--out", bundleDir); code != 0 || !strings.Contains(out, "signed by ed25519:") {
		t.Fatalf("evidence export: exit %d: %s%s", code, out, errOut)
	}
	keyFile := filepath.Join(dir, "command-key.txt")
	if err := os.WriteFile(keyFile, []byte(c.Run(t, "ca", "command-key", "--data", c.DataDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func() (string, string, int) {
		return rosterctl(t, c, "", "evidence", "verify", bundleDir, "--public-key", keyFile)
	}
	if out, errOut, code := verify(); code != 0 || !strings.Contains(out, "bundle OK") || !strings.Contains(out, "by ines-auditor") {
		t.Fatalf("evidence verify: exit %d: %s%s", code, out, errOut)
	}
	devices, err := os.ReadFile(filepath.Join(bundleDir, "inventory", "devices.csv"))
	if err != nil || !strings.Contains(string(devices), deviceID) {
		t.Errorf("inventory/devices.csv lacks the reporting device %s (%v):\n%s", deviceID, err, devices)
	}
	log, err := os.ReadFile(filepath.Join(bundleDir, "audit", "log.jsonl"))
	if err != nil || !strings.Contains(string(log), `"action":"token.created"`) {
		t.Errorf("audit/log.jsonl lacks the auditor's token creation (%v)", err)
	}
	if out, errOut, code := rosterctl(t, c, c.AdminToken, "audit", "log", "--action", "evidence.exported", "--json"); code != 0 || !strings.Contains(out, "ines-auditor") || !strings.Contains(out, from+"T00:00:00Z") {
		t.Errorf("the export is not in the audit log with who and the period: exit %d: %s%s", code, out, errOut)
	}

	// index.html as the auditor opens it, from the extracted files: a
	// screenshot, nothing refused by its policy, no serious accessibility
	// problem, on a desktop and on a phone.
	browser := startBrowser(t, c.CAFile)
	p := newPerson(t, browser, "auditor", "file://"+bundleDir, desktop)
	browse(t, p, "open index.html", chromedp.Navigate(p.base+"/index.html"))
	if got := p.text(t, "h1"); got != "Roster evidence bundle" {
		t.Errorf("index.html heading %q", got)
	}
	if n := eval[int](t, p, "count charts", `document.querySelectorAll("svg[role=img] > title").length`); n == 0 {
		t.Error("index.html has no titled chart")
	}
	p.check(t, "evidence index")
	p.resize(t, phone)
	p.check(t, "evidence index")

	devices[len(devices)-2] ^= 1
	if err := os.WriteFile(filepath.Join(bundleDir, "inventory", "devices.csv"), devices, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := verify(); code != 1 || !strings.Contains(errOut, "inventory/devices.csv: SHA-256 differs") {
		t.Errorf("tampered bundle: exit %d: %s", code, errOut)
	}
}
