package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func csrFor(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCALifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ca, created, err := LoadOrCreate(dir, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	for _, f := range []string{"ca.key", "server.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, %v; want 0600", f, st.Mode().Perm(), err)
		}
	}
	again, created, err := LoadOrCreate(dir, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil || created || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("reload: %v created=%v fingerprint %s vs %s", err, created, again.Fingerprint(), ca.Fingerprint())
	}
	if len(ca.Fingerprint()) != len("sha256:")+64 {
		t.Errorf("fingerprint %q", ca.Fingerprint())
	}
	// The server certificate verifies against the CA for every name.
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := again.Server.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	// A new name re-issues the server certificate under the same CA.
	more, _, err := LoadOrCreate(dir, []string{"collector.example.org"}, now)
	if err != nil || more.Server.Leaf.VerifyHostname("collector.example.org") != nil || more.Fingerprint() != ca.Fingerprint() {
		t.Errorf("new hostname: %v", err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, cert, err := ca.SignClient(csrFor(t, key), "0b0e5a52-6c1f-4c43-9a57-4c3c8e7f4a10", now, ClientValidity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCertificatePEM(certPEM); err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
	if id, err := DeviceID(cert); err != nil || id != "0b0e5a52-6c1f-4c43-9a57-4c3c8e7f4a10" {
		t.Errorf("DeviceID = %q, %v", id, err)
	}
	if got := cert.NotAfter.Sub(now); got != ClientValidity {
		t.Errorf("validity %v, want %v", got, ClientValidity)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, _, err := ca.SignClient(csrFor(t, rsaKey), "x", now, ClientValidity); err == nil {
		t.Error("RSA CSR accepted")
	}
	if _, _, err := ca.SignClient([]byte("not pem"), "x", now, ClientValidity); err == nil {
		t.Error("garbage CSR accepted")
	}
}
