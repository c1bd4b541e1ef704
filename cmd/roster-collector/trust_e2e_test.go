package main

// The issue-11 trust end-to-end test with the real binaries on loopback:
// named tokens with roles, refusals by role, revocation, /metrics behind a
// token, the access review and its sign-off, the audit log read back, and
// tampering with the database by SQL caught by `roster-collector audit
// verify` offline and by `rosterctl audit verify` against the collector.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// rosterctlIn runs rosterctl with HOME set to home, so state it keeps
// (the audit witness) survives between calls.
func rosterctlIn(t *testing.T, c *collectortest.Collector, home, token string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(ctlBin, args...)
	cmd.Env = []string{"HOME=" + home, "ROSTER_URL=" + c.URL, "ROSTER_TOKEN=" + token, "ROSTER_CA=" + c.CAFile}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run rosterctl: %v", err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func TestTrustEndToEnd(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	c := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dataDir, Args: []string{"--http3=false"}})
	if !regexp.MustCompile(`Bootstrap admin token \(shown only once, store it now; it expires at \S+, within 24 hours`).MatchString(c.Stdout) {
		t.Errorf("serve stdout does not say when the bootstrap token expires:\n%s", c.Stdout)
	}
	admin := func(args ...string) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, args...)
		if code != 0 {
			t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	newToken := func(principal, role string) string {
		t.Helper()
		var created struct {
			Token  string `json:"token"`
			Record struct {
				Role      string `json:"role"`
				CreatedBy string `json:"created_by"`
				ExpiresAt string `json:"expires_at"`
			} `json:"record"`
		}
		decodeJSON(t, "tokens create", admin("tokens", "create", "--principal", principal, "--role", role, "--expires", "7d", "--json"), &created)
		if created.Record.Role != role || created.Record.CreatedBy != "e2e-admin" || created.Record.ExpiresAt == "" {
			t.Errorf("token record %+v", created.Record)
		}
		return created.Token
	}
	desk, auditor := newToken("desk", "helpdesk"), newToken("ines-auditor", "auditor")

	// The helpdesk reads devices but not secrets.
	if _, errOut, code := rosterctl(t, c, desk, "devices", "list"); code != 0 {
		t.Errorf("helpdesk devices list: exit %d: %s", code, errOut)
	}
	if _, errOut, code := rosterctl(t, c, desk, "secrets", "list"); code != 1 || !strings.Contains(errOut, "the helpdesk role may not do this") {
		t.Errorf("helpdesk secrets list: exit %d %q, want 1 and a forbidden message", code, errOut)
	}
	if out, _, code := rosterctl(t, c, desk, "whoami"); code != 0 || !regexp.MustCompile(`role:\s+helpdesk`).MatchString(out) {
		t.Errorf("whoami: exit %d:\n%s", code, out)
	}

	// /metrics needs a token with metrics.read.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(c.CAFile)
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {desk, 403}, {auditor, 200}} {
		req, _ := http.NewRequest("GET", c.URL+"/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /metrics with %.8q: %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}

	// Revocation takes effect at once.
	var toks struct {
		Items []struct {
			ID        string `json:"id"`
			Principal string `json:"principal"`
		} `json:"items"`
	}
	decodeJSON(t, "tokens list", admin("tokens", "list", "--principal", "desk", "--json"), &toks)
	if len(toks.Items) != 1 {
		t.Fatalf("tokens of desk: %+v", toks.Items)
	}
	admin("tokens", "revoke", toks.Items[0].ID)
	if _, errOut, code := rosterctl(t, c, desk, "devices", "list"); code != 1 || !strings.Contains(errOut, "token revoked") {
		t.Errorf("revoked token: exit %d %q, want 1 and 'token revoked'", code, errOut)
	}

	// The auditor's access review lists every principal and the changes.
	out, errOut, code := rosterctl(t, c, auditor, "access", "review", "--since", "1h", "--csv")
	if code != 0 {
		t.Fatalf("access review: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"principal,kind,email,role,created_at,created_by,last_used_at,active_tokens,next_expiry,disabled_at,changes_in_period",
		"\ndesk,person,,helpdesk,", "\nines-auditor,person,,auditor,", "\ne2e-admin,person,,admin,", "\nbootstrap,person,,admin,"} {
		if !strings.Contains(out, want) {
			t.Errorf("access review CSV lacks %q:\n%s", want, out)
		}
	}
	if out, errOut, code := rosterctl(t, c, auditor, "access", "review", "--since", "30d", "--sign-off", "Q4 review: desk removed, others confirmed"); code != 0 || !strings.Contains(out, "access review signed off: audit entry") {
		t.Errorf("sign-off: exit %d %q %q", code, out, errOut)
	}

	// The audit log says who did what, and that the helpdesk was refused.
	var log struct {
		Items []struct {
			Seq           int64  `json:"seq"`
			PrincipalName string `json:"principal_name"`
			Role          string `json:"role"`
			Action        string `json:"action"`
			Target        string `json:"target"`
			Outcome       string `json:"outcome"`
		} `json:"items"`
	}
	decodeJSON(t, "audit log", admin("audit", "log", "--all", "--json"), &log)
	got := map[string]bool{}
	for _, e := range log.Items {
		got[e.Action+" "+e.Target+" by "+e.PrincipalName+" "+e.Outcome] = true
	}
	for _, want := range []string{
		"token.created principal:desk by e2e-admin ok",
		"token.revoked principal:desk by e2e-admin ok",
		"request.denied GET /api/v1/secrets by desk denied",
		"request.denied GET /metrics by  denied",
		"access.review.signed_off access-review by ines-auditor ok",
		"principal.created principal:e2e-admin by roster-collector token create (local user " + currentUser(t) + ") ok",
	} {
		if !got[want] {
			t.Errorf("audit log lacks %q; has:\n%s", want, strings.Join(slices.Sorted(maps.Keys(got)), "\n"))
		}
	}

	home := t.TempDir()
	if out, errOut, code := rosterctlIn(t, c, home, auditor, "audit", "verify"); code != 0 || !strings.Contains(out, "audit log verified") {
		t.Fatalf("audit verify: exit %d %q %q", code, out, errOut)
	}

	// Someone with the database edits who revoked the token. The collector
	// stops first so the clean-stop checkpoint covers the whole log.
	if code := c.Stop(); code != 0 {
		t.Fatalf("collector exit %d", code)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dataDir, "roster.db"))
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit_log WHERE action = 'token.revoked'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET principal_name = 'ines-auditor' WHERE seq = $1`, seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cmd := exec.Command(collectorBin, "audit", "verify", "--data", dataDir)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err = cmd.Run()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stdout.String(), "first bad entry: "+strconv.FormatInt(seq, 10)) || !strings.Contains(stdout.String(), "altered") {
		t.Errorf("offline audit verify after the edit: exit %d (%v):\n%s", cmd.ProcessState.ExitCode(), err, stdout.String())
	}

	// And through the running collector, for an auditor with rosterctl.
	c2 := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dataDir, Args: []string{"--http3=false"}})
	out, errOut, code = rosterctlIn(t, c2, home, auditor, "audit", "verify")
	if code != 1 || !strings.Contains(errOut, "first bad entry "+strconv.FormatInt(seq, 10)) {
		t.Errorf("rosterctl audit verify after the edit: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func currentUser(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
