package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

func TestVerifiedCerts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ca, _, err := LoadOrCreate(t.TempDir(), []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := LoadOrCreate(t.TempDir(), []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, cert, err := ca.SignClient(csrFor(t, key), "dev-1", now, ClientValidity)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign, err := other.SignClient(csrFor(t, key), "dev-1", now, ClientValidity)
	if err != nil {
		t.Fatal(err)
	}
	// The same serial on a certificate with other bytes (another CA's).
	forged := *foreign
	forged.SerialNumber = cert.SerialNumber

	v := NewVerifiedCerts()
	if _, ok := v.Lookup(cert, now); ok {
		t.Fatal("empty cache: got a hit")
	}
	v.Add(cert, "dev-1")
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"now", now, true},
		{"near its end", cert.NotAfter.Add(-time.Second), true},
		{"expired", cert.NotAfter.Add(time.Second), false},
		{"before validity", cert.NotBefore.Add(-time.Second), false},
	}
	for _, tt := range tests {
		if dev, ok := v.Lookup(cert, tt.at); ok != tt.want || (ok && dev != "dev-1") {
			t.Errorf("%s: got %q %v, want %v", tt.name, dev, ok, tt.want)
		}
	}
	if _, ok := v.Lookup(&forged, now); ok {
		t.Error("another certificate with the same serial: got a hit, want a miss")
	}
}

// BenchmarkClientCertCheck compares what a check-in's client certificate
// costs the collector: the chain verification it did on every request
// before, and a VerifiedCerts lookup now.
func BenchmarkClientCertCheck(b *testing.B) {
	now := time.Now()
	ca, _, err := LoadOrCreate(b.TempDir(), []string{"localhost"}, now)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, cert, err := ca.SignClient(csrFor(b, key), "dev-1", now, ClientValidity)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		v := NewVerifiedCerts()
		v.Add(cert, "dev-1")
		for b.Loop() {
			if _, ok := v.Lookup(cert, now); !ok {
				b.Fatal("miss")
			}
		}
	})
}
