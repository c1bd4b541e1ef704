package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is "sha256:<hex>" of a certificate's DER bytes, the form the
// collector prints with `roster-collector ca fingerprint`.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a pin as people paste it: "sha256:" followed
// by 64 hex digits, upper or lower case, with or without colons between
// bytes.
func ParseFingerprint(s string) (string, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	if !ok {
		return "", fmt.Errorf("fingerprint %q must start with \"sha256:\"", s)
	}
	rest = strings.ReplaceAll(rest, ":", "")
	b, err := hex.DecodeString(rest)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q must be sha256: and 64 hex digits", s)
	}
	return "sha256:" + rest, nil
}

// PinError says the server's chain did not satisfy the pinned CA. It is
// permanent: retrying cannot help.
type PinError struct {
	Reason string
}

func (e *PinError) Error() string { return "server not trusted: " + e.Reason }

// PinnedTLS returns a TLS 1.3 client configuration that trusts exactly one
// CA, named by its fingerprint, for serverName: the chain the server
// presents must contain a certificate whose fingerprint is pin, and the
// leaf must verify against that certificate (and only it) for serverName.
// This is how enrolment authenticates the collector before the agent holds
// its CA.
func PinnedTLS(pin, serverName string) (*tls.Config, error) {
	pin, err := ParseFingerprint(pin)
	if err != nil {
		return nil, err
	}
	if serverName == "" {
		return nil, errors.New("pinned TLS: no server name")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		// The standard verification is replaced, not dropped:
		// VerifyConnection runs on every handshake (also resumed ones) and
		// fails it unless the chain satisfies the pin.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyPinned(cs.PeerCertificates, pin, serverName)
		},
	}, nil
}

// VerifyPinned checks a presented chain (leaf first) against a pin; see
// PinnedTLS.
func VerifyPinned(chain []*x509.Certificate, pin, serverName string) error {
	if len(chain) == 0 {
		return &PinError{Reason: "the server presented no certificate"}
	}
	var anchor *x509.Certificate
	for _, c := range chain {
		if Fingerprint(c.Raw) == pin {
			anchor = c
			break
		}
	}
	if anchor == nil {
		return &PinError{Reason: fmt.Sprintf("no certificate the server presented has the pinned fingerprint %s", pin)}
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != anchor {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return &PinError{Reason: fmt.Sprintf("server certificate does not verify against the pinned CA for %s: %v", serverName, err)}
	}
	return nil
}

// CATLS returns a TLS 1.3 client configuration that verifies the server
// against the CA certificates in caPEM only (never the system roots).
func CATLS(caPEM []byte) (*tls.Config, error) {
	certs, err := ParseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, nil
}

// ParseCertificates parses every CERTIFICATE block in PEM bytes; there must
// be at least one.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}
