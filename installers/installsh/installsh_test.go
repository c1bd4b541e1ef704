package installsh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a throwaway self-signed CA certificate (DER).
func testCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "install.sh test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func render(t *testing.T, p Params) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, p); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRenderShellcheck(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not installed (make deps)")
	}
	p := filepath.Join(t.TempDir(), "install.sh")
	if err := os.WriteFile(p, []byte(render(t, Params{URL: "https://collector.example.org:8443", CACert: testCA(t)})), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("shellcheck", "--shell=sh", "--severity=style", p).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// TestRenderBakedValues runs the script's own fingerprint check: the
// baked PEM must hash to the baked fingerprint when sh decodes it.
func TestRenderBakedValues(t *testing.T) {
	t.Parallel()
	der := testCA(t)
	script := render(t, Params{URL: "https://collector.example.org:8443/", CACert: der})
	sum := sha256.Sum256(der)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	for _, want := range []string{"ROSTER_URL='https://collector.example.org:8443'\n", "ROSTER_CA_FINGERPRINT='" + fp + "'\n", "-----BEGIN CERTIFICATE-----"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	// Everything up to the option parsing, then print the decoded hash.
	head := script[:strings.Index(script, "secret_file=\n")]
	cmd := exec.Command("sh", "-c", head+`printf '%s\n' "$ROSTER_CA_PEM" | sed '/-----/d' | base64 -d | sha256sum | cut -d' ' -f1`)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	if got := "sha256:" + strings.TrimSpace(string(out)); got != fp {
		t.Errorf("decoded CA hashes to %s, want %s", got, fp)
	}
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	der := testCA(t)
	for name, p := range map[string]Params{
		"http":     {URL: "http://collector:8443", CACert: der},
		"path":     {URL: "https://collector:8443/x", CACert: der},
		"query":    {URL: "https://collector:8443?a=b", CACert: der},
		"userinfo": {URL: "https://u:p@collector:8443", CACert: der},
		"no CA":    {URL: "https://collector:8443"},
	} {
		if err := Render(&bytes.Buffer{}, p); err == nil {
			t.Errorf("%s: Render accepted %+v", name, p.URL)
		}
	}
}

// TestScriptOptions runs the rendered script's early exits as a non-root
// user would see them and as bad input makes them.
func TestScriptOptions(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "install.sh")
	if err := os.WriteFile(p, []byte(render(t, Params{URL: "https://collector.example.org", CACert: testCA(t)})), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--help"}, "usage: install.sh", 0},
		{[]string{"--bogus"}, "unknown argument: --bogus", 1},
		{[]string{"--secret-file"}, "--secret-file needs a value", 1},
	} {
		cmd := exec.Command("sh", append([]string{p}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("install.sh %v: exit %d, output %q; want exit %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "it's", `a"b$c\d` + "`e`", "'''", "new\nline", "$(reboot)"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Errorf("sh read %q back as %q", s, out)
		}
	}
}
