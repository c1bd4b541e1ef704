package main

// End-to-end tests of the real roster-collector and rosterctl binaries,
// run as processes on loopback, and in-process tests of the command line's
// usage errors.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/quic-go/quic-go/http3"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

var collectorBin, ctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roster-collector-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	if collectorBin, err = collectortest.Build(ctx, dir, ""); err == nil {
		ctlBin, err = collectortest.Build(ctx, dir, "github.com/rosterhq/roster/cmd/rosterctl")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

func rosterctl(t *testing.T, c *collectortest.Collector, token string, args ...string) (string, string, int) {
	t.Helper()
	return rosterctlIn(t, c, t.TempDir(), token, args...)
}

func TestEndToEnd(t *testing.T) {
	c := collectortest.Start(t, collectorBin, collectortest.Options{})

	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(c.Fingerprint) {
		t.Errorf("ca fingerprint printed %q, want sha256:<64 hex>", c.Fingerprint)
	}
	if want := "CA fingerprint: " + c.Fingerprint + "\n"; !strings.HasPrefix(c.Stdout, want) {
		t.Errorf("serve stdout %q, want it to start with %q", c.Stdout, want)
	}
	if !strings.HasPrefix(c.BootstrapToken, "rst_") || !strings.HasPrefix(c.AdminToken, "rst_") || strings.Contains(c.AdminToken, "\n") {
		t.Errorf("bootstrap token %q, admin token %q, want single rst_ tokens", c.BootstrapToken, c.AdminToken)
	}
	if strings.Contains(c.Stderr(), c.BootstrapToken) {
		t.Error("the bootstrap token appears in the log")
	}
	if st, err := os.Stat(c.DataDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, mode %v, want 0700", err, st.Mode().Perm())
	}

	pool := caPool(t, c.CAFile)
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() { h2.CloseIdleConnections(); h3.Close() })
	_, port, _ := strings.Cut(c.Addr, ":")
	for _, tr := range []struct {
		name  string
		rt    http.RoundTripper
		proto string
	}{{"https", h2, "HTTP/2.0"}, {"http3", h3, "HTTP/3.0"}} {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			t.Run(tr.name+path, func(t *testing.T) {
				req, _ := http.NewRequest("GET", c.URL+path, nil)
				if path == "/metrics" {
					// metrics.read: the figures are not public by default.
					req.Header.Set("Authorization", "Bearer "+c.AdminToken)
				}
				resp, err := (&http.Client{Transport: tr.rt, Timeout: time.Minute}).Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Proto != tr.proto {
					t.Errorf("got %d over %s, want 200 over %s; body %s", resp.StatusCode, resp.Proto, tr.proto, body)
				}
				if got, want := resp.Header.Get("Alt-Svc"), `h3=":`+port+`"`; !strings.HasPrefix(got, want) {
					t.Errorf("Alt-Svc %q, want it to start with %q", got, want)
				}
				if path == "/metrics" && !strings.Contains(string(body), "roster_devices") {
					t.Errorf("metrics lack roster_devices:\n%s", body)
				}
			})
		}
	}

	out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--json", "--label", "e2e", "--expires", "1d", "--max-uses", "2")
	var secret struct {
		ID, Secret, Label string
		MaxUses           int `json:"max_uses"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &secret) != nil || !strings.HasPrefix(secret.Secret, "rse_") || secret.ID == "" || secret.Label != "e2e" || secret.MaxUses != 2 {
		t.Fatalf("secrets create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = rosterctl(t, c, c.BootstrapToken, "secrets", "list", "--json")
	if code != 0 || !strings.Contains(out, secret.ID) || strings.Contains(out, secret.Secret) {
		t.Errorf("secrets list with the bootstrap token: exit %d, stdout %q, stderr %q; want the id and not the secret", code, out, errOut)
	}
	out, errOut, code = rosterctl(t, c, c.AdminToken, "devices", "list", "--json")
	var devices map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &devices) != nil {
		t.Fatalf("devices list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if diff := cmp.Diff(map[string]any{"items": []any{}}, devices); diff != "" {
		t.Errorf("devices list (-want +got):\n%s", diff)
	}
	_, errOut, code = rosterctl(t, c, "rst_not-a-token", "devices", "list")
	if code != 1 || !strings.Contains(errOut, "authentication failed") {
		t.Errorf("wrong token: exit %d, stderr %q; want 1 and authentication failed", code, errOut)
	}

	// A restart keeps the CA and the tokens and prints no bootstrap token.
	if code := c.Stop(); code != 0 {
		t.Fatalf("stop: exit %d; stderr:\n%s", code, c.Stderr())
	}
	c2 := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: c.DataDir})
	if c2.BootstrapToken != "" || strings.Contains(c2.Stdout, "Bootstrap") {
		t.Errorf("second start printed a bootstrap token: %q", c2.Stdout)
	}
	if c2.Fingerprint != c.Fingerprint {
		t.Errorf("fingerprint changed on restart: %s, want %s", c2.Fingerprint, c.Fingerprint)
	}
	if _, errOut, code := rosterctl(t, c2, c.AdminToken, "secrets", "list"); code != 0 {
		t.Errorf("old admin token after restart: exit %d, stderr %q", code, errOut)
	}
	if out := c2.Run(t, "migrate", "--data", c.DataDir); out != "database is up to date\n" {
		t.Errorf("migrate on a current database printed %q", out)
	}
}

func runInProcess(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	badConfig := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(badConfig, []byte("listen: \":1\"\nlimits:\n  max_report_byte: 5\n"), 0o600)
	empty := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantErr    string
	}{
		{"no command", nil, 2, "", "no command given"},
		{"unknown command", []string{"frob"}, 2, "", `unknown command "frob"`},
		{"token without subcommand", []string{"token"}, 2, "", `unknown command "token"`},
		{"serve without data", []string{"serve"}, 2, "", "data_dir is required (--data DIR)"},
		{"serve bad listen", []string{"serve", "--data", empty, "--listen", "8443"}, 2, "", `listen "8443" must be host:port`},
		{"serve unknown config key", []string{"serve", "--config", badConfig}, 2, "", `line 3: unknown key "limits.max_report_byte"`},
		{"serve unknown flag", []string{"serve", "--port", "1"}, 2, "", "flag provided but not defined: -port"},
		{"serve stray argument", []string{"serve", "--data", empty, "now"}, 2, "", `unexpected argument "now"`},
		{"token without name", []string{"token", "create", "--data", empty}, 2, "", "--name NAME is required"},
		{"token without data", []string{"token", "create", "--name", "x"}, 2, "", "--data DIR is required"},
		{"token in empty dir", []string{"token", "create", "--data", empty, "--name", "x"}, 1, "", "no database at"},
		{"fingerprint without CA", []string{"ca", "fingerprint", "--data", empty}, 1, "", "no CA in"},
		{"version", []string{"version"}, 0, "roster-collector dev\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runInProcess(t, tt.args...)
			if code != tt.wantCode || stdout != tt.wantStdout || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %d, %q, stderr containing %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantErr)
			}
		})
	}
}

func TestMigrateAndToken(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	stdout, stderr, code := runInProcess(t, "migrate", "--data", dir)
	if code != 0 || !regexp.MustCompile(`^(applied migration \d+\n)+$`).MatchString(stdout) {
		t.Fatalf("first migrate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if stdout, _, code = runInProcess(t, "migrate", "--data", dir); code != 0 || stdout != "database is up to date\n" {
		t.Errorf("second migrate: exit %d, stdout %q", code, stdout)
	}
	// A new principal gets no role by default: least privilege is asked for.
	if _, stderr, code = runInProcess(t, "token", "create", "--data", dir, "--name", "ci"); code != 2 || !strings.Contains(stderr, `principal "ci" does not exist yet: give its role`) {
		t.Errorf("token create without a role: exit %d, stderr %q", code, stderr)
	}
	stdout, stderr, code = runInProcess(t, "token", "create", "--data", dir, "--name", "ci", "--role", "automation", "--kind", "automation")
	if code != 0 || !regexp.MustCompile(`^rst_[A-Za-z0-9_-]+\n$`).MatchString(stdout) {
		t.Errorf("token create: exit %d, stdout %q, stderr %q; want only the token", code, stdout, stderr)
	}
	// A second token for the principal keeps its role without naming it.
	if stdout, stderr, code = runInProcess(t, "token", "create", "--data", dir, "--name", "ci"); code != 0 || !strings.HasPrefix(stdout, "rst_") {
		t.Errorf("second token for ci: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stderr, code = runInProcess(t, "token", "create", "--data", dir, "--name", "ci", "--role", "root"); code != 2 || !strings.Contains(stderr, `role "root"`) {
		t.Errorf("bad role: exit %d, stderr %q", code, stderr)
	}
}
