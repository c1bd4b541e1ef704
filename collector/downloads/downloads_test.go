package downloads

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T, hostnames []string) *http.ServeMux {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"SHA256SUMS":                      "abc  roster-agent_1.0.0_amd64.deb\n",
		"roster-agent_1.0.0_amd64.deb":    "deb",
		"roster-agent-1.0.0-1.x86_64.rpm": "rpm",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "escape.deb")); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if err := Mount(mux, Options{Dir: dir, CACert: der, Listen: ":8443", Hostnames: hostnames, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return mux
}

func get(mux http.Handler, host, path string) *http.Response {
	r := httptest.NewRequest(http.MethodGet, "https://"+host+path, nil)
	r.Host = host
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w.Result()
}

func TestFiles(t *testing.T) {
	t.Parallel()
	mux := newServer(t, nil)
	for _, tc := range []struct {
		path, status, ctype, body string
	}{
		{"/downloads/SHA256SUMS", "200", "text/plain; charset=utf-8", "abc  roster-agent_1.0.0_amd64.deb\n"},
		{"/downloads/roster-agent_1.0.0_amd64.deb", "200", "application/vnd.debian.binary-package", "deb"},
		{"/downloads/roster-agent-1.0.0-1.x86_64.rpm", "200", "application/x-rpm", "rpm"},
		{"/downloads/", "404", "", ""},
		{"/downloads/sub", "404", "", ""},
		{"/downloads/escape.deb", "404", "", ""},
		{"/downloads/..%2fsecret", "404", "", ""},
		{"/downloads/.hidden", "404", "", ""},
		{"/downloads/missing.deb", "404", "", ""},
	} {
		res := get(mux, "collector.example.org:8443", tc.path)
		body, _ := io.ReadAll(res.Body)
		if got := res.Status[:3]; got != tc.status {
			t.Errorf("GET %s: status %s, want %s", tc.path, got, tc.status)
			continue
		}
		if tc.status != "200" {
			if strings.Contains(string(body), "outside") {
				t.Errorf("GET %s leaked a file outside the directory", tc.path)
			}
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if res.Header.Get("Cache-Control") == "" || res.Header.Get("Last-Modified") == "" {
			t.Errorf("GET %s: no caching headers: %v", tc.path, res.Header)
		}
		if string(body) != tc.body {
			t.Errorf("GET %s: body %q, want %q", tc.path, body, tc.body)
		}
	}
}

func TestInstallScriptHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hostnames  []string
		host, want string
	}{
		{nil, "collector.example.org:8443", "ROSTER_URL='https://collector.example.org:8443'"},
		{nil, "127.0.0.1:40123", "ROSTER_URL='https://127.0.0.1:40123'"},
		{nil, "[::1]:8443", "ROSTER_URL='https://[::1]:8443'"},
		{nil, "collector.example.org", "ROSTER_URL='https://collector.example.org'"},
		{[]string{"roster.example.org"}, "roster.example.org:8443", "ROSTER_URL='https://roster.example.org:8443'"},
		// A Host the certificate does not cover, or one that is not a
		// host name, gets the first configured name and the listen port.
		{[]string{"roster.example.org"}, "evil.example.com:8443", "ROSTER_URL='https://roster.example.org:8443'"},
		{nil, "a'b;reboot", "ROSTER_URL='https://localhost:8443'"},
	} {
		res := get(newServer(t, tc.hostnames), tc.host, "/install.sh")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("Host %q: status %d: %s", tc.host, res.StatusCode, body)
		}
		if !strings.Contains(string(body), tc.want+"\n") {
			t.Errorf("Host %q: script lacks %q", tc.host, tc.want)
		}
		if got := res.Header.Get("Content-Type"); got != "text/x-shellscript; charset=utf-8" {
			t.Errorf("Content-Type %q", got)
		}
	}
}
