package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"math/big"
	"runtime"
	"testing"
	"time"
)

// newClientCert makes a CA and a client certificate it issued to device.
func newClientCert(t testing.TB, device string, now time.Time) (*CA, *x509.Certificate) {
	t.Helper()
	ca, _, err := LoadOrCreate(t.TempDir(), []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, cert, err := ca.SignClient(csrFor(t, key), device, now, ClientValidity)
	if err != nil {
		t.Fatal(err)
	}
	return ca, cert
}

func TestVerifiedCerts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	_, cert := newClientCert(t, "dev-1", now)
	_, foreign := newClientCert(t, "dev-1", now)
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
	// The entry depends on the bytes as they were when verified: a cache
	// that kept the slice would see them change, and would keep the
	// handshake message they are part of alive.
	held := *cert
	held.Raw = bytes.Clone(cert.Raw)
	v.Add(&held, "dev-1")
	held.Raw[len(held.Raw)-1] ^= 1
	if _, ok := v.Lookup(cert, now); !ok {
		t.Error("the verified bytes, after the caller's copy changed: got a miss, want a hit")
	}
	if _, ok := v.Lookup(&held, now); ok {
		t.Error("the changed bytes: got a hit, want a miss")
	}
}

// TestVerifiedCertsMemory: what the cache keeps per device is bounded by
// its own entry, whatever buffer the certificate was parsed from (a TLS
// handshake message). Not parallel, so that the heap is this test's alone.
func TestVerifiedCertsMemory(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	_, cert := newClientCert(t, "00000000-0000-4000-8000-000000000000", now)
	const n, message = 20000, 4096
	v := NewVerifiedCerts()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		buf := make([]byte, message)
		c := *cert
		c.Raw = buf[:copy(buf, cert.Raw)]
		binary.BigEndian.PutUint32(c.Raw[len(c.Raw)-4:], uint32(i)) // distinct bytes
		c.SerialNumber = big.NewInt(int64(i) + 1)                   // and serials
		v.Add(&c, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per verified certificate", per)
	if per > 1000 {
		t.Errorf("%d bytes of heap per verified certificate, want at most 1000 (each was parsed from a %d-byte message)", per, message)
	}
	if _, ok := v.Lookup(cert, now); ok {
		t.Error("the original certificate was never added: got a hit")
	}
	runtime.KeepAlive(v)
}

// BenchmarkClientCertCheck compares what a check-in's client certificate
// costs the collector: the chain verification it did on every request
// before, and a VerifiedCerts lookup now.
func BenchmarkClientCertCheck(b *testing.B) {
	now := time.Now()
	ca, cert := newClientCert(b, "dev-1", now)
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
