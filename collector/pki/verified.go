package pki

import (
	"bytes"
	"crypto/x509"
	"sync"
	"time"
)

// maxVerified bounds VerifiedCerts: past it the cache starts over, which
// costs one signature check per device.
const maxVerified = 250000

// VerifiedCerts remembers client certificates whose chain a CA verified,
// by serial, so that a device's later check-ins skip the signature check
// (x509.Certificate.Verify: an ECDSA verification and chain building, about
// 5 % of a report's CPU). What it holds is fixed by the certificate's bytes
// and the CA: the raw certificate must match byte for byte and the time
// must still lie within its validity. Revocation is not cached here:
// callers check it in the store on every request, so a revoked device is
// refused by every collector from its next request on.
type VerifiedCerts struct {
	mu sync.Mutex
	m  map[string]verified
}

type verified struct {
	raw                 []byte
	device              string
	notBefore, notAfter time.Time
}

// NewVerifiedCerts returns an empty cache.
func NewVerifiedCerts() *VerifiedCerts { return &VerifiedCerts{m: map[string]verified{}} }

// Lookup returns the device of leaf when the same certificate was
// verified before and now lies within its validity.
func (v *VerifiedCerts) Lookup(leaf *x509.Certificate, now time.Time) (string, bool) {
	serial := SerialHex(leaf)
	v.mu.Lock()
	e, ok := v.m[serial]
	v.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, leaf.Raw) || now.Before(e.notBefore) || now.After(e.notAfter) {
		return "", false
	}
	return e.device, true
}

// Add records that leaf, of device, verified against the CA.
func (v *VerifiedCerts) Add(leaf *x509.Certificate, device string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= maxVerified {
		clear(v.m)
	}
	v.m[SerialHex(leaf)] = verified{raw: leaf.Raw, device: device, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
}
