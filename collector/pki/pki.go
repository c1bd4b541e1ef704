// Package pki is the collector's internal certificate authority: an ECDSA
// P-256 CA created on first start, the server certificate it signs for the
// collector's own names, and the client certificates it signs for enrolled
// agents (device id in the Subject CN and a urn:roster:device URI SAN).
//
// Files in the data directory (keys 0600): ca.crt, ca.key, server.crt,
// server.key, and command.key, the Ed25519 key that signs agent commands
// and certificates of sanitisation (commandkey.go).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DeviceURIPrefix starts the URI SAN of a client certificate.
const DeviceURIPrefix = "urn:roster:device:"

// ClientValidity is how long a client certificate is valid; agents renew
// when two thirds have passed.
const ClientValidity = 90 * 24 * time.Hour

// CA is the loaded authority with the server's own key pair.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
	Server  tls.Certificate
	// Command signs agent commands; loaded or created with the CA.
	Command *CommandKey
}

// LoadOrCreate loads the CA and server certificate from dir, creating what
// is missing. hostnames are the server certificate's names (DNS names or IP
// addresses); when the existing server certificate lacks one, a new server
// certificate is issued. created reports whether a new CA was made.
func LoadOrCreate(dir string, hostnames []string, now time.Time) (ca *CA, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create pki directory: %w", err)
	}
	ca, err = load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		ca, err = create(dir, now)
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	if err := ca.ensureServer(dir, hostnames, now); err != nil {
		return nil, false, err
	}
	if ca.Command, err = loadOrCreateCommandKey(dir); err != nil {
		return nil, false, err
	}
	return ca, created, nil
}

// Load loads an existing CA (for `roster-collector ca fingerprint`).
func Load(dir string) (*CA, error) {
	ca, err := load(dir)
	if err != nil {
		return nil, err
	}
	return ca, nil
}

func load(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

func create(dir string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Roster collector CA", Organization: []string{"Roster"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(filepath.Join(dir, "ca.key"), key); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "ca.crt"), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

func (ca *CA) ensureServer(dir string, hostnames []string, now time.Time) error {
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err == nil && coversNames(leaf, hostnames) && now.Before(leaf.NotAfter.Add(-30*24*time.Hour)) && leaf.CheckSignatureFrom(ca.Cert) == nil {
			pair.Leaf = leaf
			pair.Certificate = append(pair.Certificate, ca.Cert.Raw)
			ca.Server = pair
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hostnames[0], Organization: []string{"Roster"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("create server certificate: %w", err)
	}
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	if err := writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	leaf, _ := x509.ParseCertificate(der)
	ca.Server = tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}
	return nil
}

func coversNames(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	return true
}

// Fingerprint is "sha256:<hex>" of the CA certificate's DER bytes, what
// agents pin with --ca-fingerprint.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.Cert.Raw) }

// Fingerprint is "sha256:<hex>" of a certificate's DER bytes.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// SignClient checks a PEM CSR (ECDSA P-256, valid signature) and issues a
// client certificate for deviceID valid from now for validity.
func (ca *CA) SignClient(csrPEM []byte, deviceID string, now time.Time, validity time.Duration) (certPEM []byte, cert *x509.Certificate, err error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, nil, errors.New("csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("csr signature: %w", err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, nil, errors.New("csr key must be ECDSA P-256")
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(DeviceURIPrefix + deviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("device uri: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: deviceID, Organization: []string{"Roster agent"}},
		URIs:         []*url.URL{u},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign client certificate: %w", err)
	}
	cert, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert, nil
}

// DeviceID returns the device id a verified client certificate names.
func DeviceID(c *x509.Certificate) (string, error) {
	for _, u := range c.URIs {
		if s := u.String(); strings.HasPrefix(s, DeviceURIPrefix) {
			id := strings.TrimPrefix(s, DeviceURIPrefix)
			if id != c.Subject.CommonName {
				return "", errors.New("client certificate names two device ids")
			}
			return id, nil
		}
	}
	return "", errors.New("client certificate names no device")
}

// SerialHex is a certificate serial as lower-case hex, the form stored.
func SerialHex(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// ParseCertificatePEM parses the first certificate in PEM bytes.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("key is not ECDSA")
	}
	return ec, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile writes atomically: temp file, fsync, rename.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// ServerTLS returns the TLS 1.3-only server configuration: the server
// certificate, and client certificates verified against the CA when given
// (enrolment has none; agent endpoints check that one was verified).
// Session tickets are sealed with daily keys derived from the command key
// (tickets.go), so an agent resumes on any collector of the deployment and
// across restarts.
func (ca *CA) ServerTLS(nextProtos []string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{ca.Server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		NextProtos:   nextProtos,
	}
	if ca.Command != nil {
		t := newTickets(ca.Command, ca.Cert.Raw, time.Now)
		cfg.WrapSession, cfg.UnwrapSession = t.wrap, t.unwrap
	}
	return cfg
}
