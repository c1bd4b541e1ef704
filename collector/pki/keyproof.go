package pki

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// MaxProofSkew bounds how far an enrolment proof's timestamp may be from
// the collector's clock.
const MaxProofSkew = 10 * time.Minute

// ErrBadProof is an enrolment proof that does not verify.
var ErrBadProof = errors.New("enrolment proof of the earlier key does not verify")

// VerifyKeyProof checks an enrolment's proof of possession of an earlier
// device key: the certificate was issued by this CA for client
// authentication (expiry aside: an agent whose certificate lapsed while
// the machine was off still holds its key), the timestamp is within
// MaxProofSkew of now, and the signature over wire.EnrollProofMessage for
// the new CSR's key verifies with the certificate's key. It returns the
// device id and serial the certificate names; whether that certificate is
// still current is the registry's question.
func (ca *CA) VerifyKeyProof(p wire.EnrollProof, csrPEM []byte, now time.Time) (deviceID, serial string, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadProof, fmt.Sprintf(format, a...))
	}
	cert, err := ParseCertificatePEM([]byte(p.Certificate))
	if err != nil {
		return "", "", bad("certificate: %v", err)
	}
	at := now
	if at.After(cert.NotAfter) {
		at = cert.NotAfter
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", "", bad("certificate not issued by this collector: %v", err)
	}
	if deviceID, err = DeviceID(cert); err != nil {
		return "", "", bad("%v", err)
	}
	if d := now.Sub(p.Timestamp); d > MaxProofSkew || d < -MaxProofSkew {
		return "", "", bad("timestamp %s is more than %s from the collector's clock %s", p.Timestamp.UTC().Format(time.RFC3339), MaxProofSkew, now.UTC().Format(time.RFC3339))
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return "", "", bad("csr is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", "", bad("csr: %v", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return "", "", bad("certificate key is not ECDSA")
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil {
		return "", "", bad("signature is not base64")
	}
	sum := sha256.Sum256(wire.EnrollProofMessage(csr.RawSubjectPublicKeyInfo, deviceID, p.Timestamp))
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return "", "", bad("signature does not verify with the key of certificate %s", SerialHex(cert))
	}
	return deviceID, SerialHex(cert), nil
}
