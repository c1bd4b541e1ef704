package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"sync"
	"time"
)

// maxVerified bounds VerifiedCerts: past it the cache starts over, which
// costs one signature check per device.
const maxVerified = 250000

// VerifiedCerts remembers client certificates whose chain a CA verified,
// so that a device's later check-ins skip the signature check
// (x509.Certificate.Verify: an ECDSA verification and chain building, about
// 5 % of a report's CPU). What it holds is fixed by the certificate's bytes
// and the CA: an entry is found by the SHA-256 of the raw certificate, so
// only the same certificate byte for byte finds it, and the time must
// still lie within its validity. Revocation is not cached here: callers
// check it in the store on every request, so a revoked device is refused
// by every collector from its next request on.
//
// It holds one entry per device that checked in, so an entry keeps no
// reference to the certificate: the certificate's Raw is a slice of the
// TLS handshake message it arrived in, and keeping it kept that whole
// message (about 1 KB a device, 100 MB at 100,000 devices). An entry is
// the digest, the device id and two times, about 150 bytes with the map's
// share.
type VerifiedCerts struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verified
}

type verified struct {
	device              string
	notBefore, notAfter int64 // Unix seconds
}

// NewVerifiedCerts returns an empty cache.
func NewVerifiedCerts() *VerifiedCerts {
	return &VerifiedCerts{m: map[[sha256.Size]byte]verified{}}
}

// Lookup returns the device of leaf when the same certificate was
// verified before and now lies within its validity.
func (v *VerifiedCerts) Lookup(leaf *x509.Certificate, now time.Time) (string, bool) {
	sum := sha256.Sum256(leaf.Raw)
	v.mu.Lock()
	e, ok := v.m[sum]
	v.mu.Unlock()
	if !ok || now.Before(time.Unix(e.notBefore, 0)) || now.After(time.Unix(e.notAfter, 0)) {
		return "", false
	}
	return e.device, true
}

// Add records that leaf, of device, verified against the CA.
func (v *VerifiedCerts) Add(leaf *x509.Certificate, device string) {
	sum := sha256.Sum256(leaf.Raw)
	e := verified{device: strings.Clone(device), notBefore: leaf.NotBefore.Unix(), notAfter: leaf.NotAfter.Unix()}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= maxVerified {
		clear(v.m)
	}
	v.m[sum] = e
}
