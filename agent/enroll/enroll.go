// Package enroll turns a fresh agent into an enrolled device and keeps its
// client certificate fresh. Enrol generates an ECDSA P-256 key that never
// leaves the device, sends a CSR with the hardware identity and the
// enrolment secret to the collector (authenticated by a pinned CA
// fingerprint or a CA file), checks the answer against that trust and
// stores the credentials in the state directory. Renew replaces key and
// certificate over mTLS once two thirds of the certificate's validity have
// passed.
package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/shared/wire"
)

// API paths (docs/api.md).
const (
	EnrollPath = "/api/v1/enroll"
	RenewPath  = "/api/v1/agent/renew"
)

// Trust is how the agent authenticates the collector before it holds the
// collector's CA: exactly one of Fingerprint and CAPEM.
type Trust struct {
	// Fingerprint is "sha256:<hex>" of the CA certificate.
	Fingerprint string
	// CAPEM is the CA certificate itself.
	CAPEM []byte
}

// TLSConfig returns the TLS configuration that enforces t for serverName.
func (t Trust) TLSConfig(serverName string) (*tls.Config, error) {
	switch {
	case t.Fingerprint != "" && len(t.CAPEM) > 0:
		return nil, errors.New("give either a CA fingerprint or a CA file, not both")
	case t.Fingerprint != "":
		return transport.PinnedTLS(t.Fingerprint, serverName)
	case len(t.CAPEM) > 0:
		cfg, err := transport.CATLS(t.CAPEM)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = serverName
		return cfg, nil
	}
	return nil, errors.New("no trust for the collector: give a CA fingerprint or a CA file")
}

// matchesCA checks that the CA the collector returned is the one trusted,
// so what is stored for later connections is what the pin or file named,
// never merely what the server claimed.
func (t Trust) matchesCA(caPEM []byte) error {
	certs, err := transport.ParseCertificates(caPEM)
	if err != nil {
		return fmt.Errorf("collector's CA: %w", err)
	}
	if t.Fingerprint != "" {
		pin, err := transport.ParseFingerprint(t.Fingerprint)
		if err != nil {
			return err
		}
		if got := transport.Fingerprint(certs[0].Raw); got != pin {
			return fmt.Errorf("collector returned CA %s, not the pinned %s", got, pin)
		}
		return nil
	}
	want, err := transport.ParseCertificates(t.CAPEM)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	for _, w := range want {
		if bytes.Equal(w.Raw, certs[0].Raw) {
			return nil
		}
	}
	return fmt.Errorf("collector returned CA %s, which is not in the CA file", transport.Fingerprint(certs[0].Raw))
}

// Request is one enrolment.
type Request struct {
	// Collector is the base URL, https://host:port.
	Collector string
	// Collectors, when set instead, are several collectors of one
	// deployment in order of preference: the enrolment goes to the first
	// that answers, and Trust applies to each.
	Collectors []string
	Secret     string
	Trust      Trust
	// Identity is the hardware identity (wire.IdentityOf a hardware probe run).
	Identity     wire.Identity
	AgentVersion string
	// Transport tunes the client; BaseURL and TLS are filled in.
	Transport transport.Options
	Now       func() time.Time
}

// urls are the collectors to try, without trailing slashes.
func (r Request) urls() []string {
	urls := r.Collectors
	if len(urls) == 0 {
		urls = []string{r.Collector}
	}
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimRight(u, "/")
	}
	return out
}

// Result is what enrolment produced.
type Result struct {
	DeviceID string `json:"device_id"`
	// Collector is the collector that took the enrolment.
	Collector string `json:"collector"`
	// Collectors are all the collectors enrolled with, when several.
	Collectors []string `json:"collectors,omitempty"`
	ReEnrolled bool     `json:"re_enrolled"`
	// Rule is the collector's enrolment rule: new, conflict (a new record
	// in identity conflict with a live device) or the continuity rule
	// that continued the device (docs/api.md).
	Rule      string    `json:"rule,omitempty"`
	NotAfter  time.Time `json:"-"`
	Transport string    `json:"-"`
}

// Enroll enrols the device and stores its credentials in dir, replacing an
// earlier enrolment only once the new one succeeded. With several
// collectors, one that does not answer, or answers 5xx or 421, gives way
// to the next (transport.Failover); any other answer is the deployment's.
func Enroll(ctx context.Context, dir *state.Dir, r Request) (Result, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	if r.Secret == "" {
		return Result{}, errors.New("enrol: no enrolment secret")
	}
	urls := r.urls()
	for _, c := range urls {
		if u, err := url.Parse(c); err != nil || u.Hostname() == "" {
			return Result{}, fmt.Errorf("enrol: collector URL %q has no host", c)
		}
	}
	key, csrPEM, err := NewKeyAndCSR("roster-agent " + r.Identity.Hostname)
	if err != nil {
		return Result{}, fmt.Errorf("enrol: %w", err)
	}

	var resp wire.EnrollResponse
	var collector, used string
	for i, c := range urls {
		last := i == len(urls)-1
		used, err = post(ctx, dir, r, c, key, csrPEM, now(), last, &resp)
		if err == nil {
			collector = c
			break
		}
		if last || ctx.Err() != nil || !transport.Failover(err) {
			return Result{}, err
		}
		logger := r.Transport.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		logger.Warn("enrolment failed, trying the next collector", "collector", c, "next", urls[i+1], "err", err)
	}
	if err := r.Trust.matchesCA([]byte(resp.CA)); err != nil {
		return Result{}, fmt.Errorf("enrol: %w", err)
	}
	cert, err := checkIssued([]byte(resp.Certificate), []byte(resp.CA), key, now())
	if err != nil {
		return Result{}, fmt.Errorf("enrol: %w", err)
	}
	if resp.DeviceID == "" || cert.Subject.CommonName != resp.DeviceID {
		return Result{}, fmt.Errorf("enrol: certificate names device %q, answer names %q", cert.Subject.CommonName, resp.DeviceID)
	}
	if resp.CommandKey != "" {
		if _, err := state.DecodeCommandKey(resp.CommandKey); err != nil {
			return Result{}, fmt.Errorf("enrol: collector's %w", err)
		}
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Result{}, fmt.Errorf("enrol: %w", err)
	}
	var several []string
	if len(urls) > 1 {
		several = urls
	}
	err = dir.SaveEnrolment(state.Enrolment{
		Device: state.Device{
			DeviceID:   resp.DeviceID,
			Collector:  collector,
			Collectors: several,
			EnrolledAt: now().UTC().Truncate(time.Second),
			ReEnrolled: resp.ReEnrolled,
		},
		KeyPEM:     keyPEM,
		CertPEM:    []byte(resp.Certificate),
		CAPEM:      []byte(resp.CA),
		CommandKey: resp.CommandKey,
	})
	if err != nil {
		return Result{}, fmt.Errorf("enrol: %w", err)
	}
	return Result{
		DeviceID:   resp.DeviceID,
		Collector:  collector,
		Collectors: several,
		ReEnrolled: resp.ReEnrolled,
		Rule:       resp.Rule,
		NotAfter:   cert.NotAfter,
		Transport:  used,
	}, nil
}

// post sends the enrolment request to one collector, authenticated by the
// trust for its host name. One with another behind it (not last) gets the
// failover budget: FailoverTimeout and at most one retry.
func post(ctx context.Context, dir *state.Dir, r Request, collector string, key *ecdsa.PrivateKey, csrPEM []byte, now time.Time, last bool, resp *wire.EnrollResponse) (string, error) {
	u, _ := url.Parse(collector)
	tlsCfg, err := r.Trust.TLSConfig(u.Hostname())
	if err != nil {
		return "", fmt.Errorf("enrol: %w", err)
	}
	opt := r.Transport
	opt.BaseURL, opt.BaseURLs, opt.TLS = collector, nil, tlsCfg
	if !last {
		opt.RetryMax = min(opt.RetryMax, 1)
		timeout := opt.FailoverTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	client, err := transport.New(opt)
	if err != nil {
		return "", fmt.Errorf("enrol: %w", err)
	}
	defer client.Close()
	used, err := client.PostJSON(ctx, EnrollPath, wire.EnrollRequest{
		Secret:       r.Secret,
		CSR:          string(csrPEM),
		Identity:     r.Identity,
		AgentVersion: r.AgentVersion,
		Proof:        keyProof(dir, collector, r.Trust, key, now),
	}, false, resp)
	if err != nil {
		return used, fmt.Errorf("enrol with %s: %w", collector, err)
	}
	return used, nil
}

// keyProof signs the new key with the key of the enrolment dir already
// holds with the same collector, so the collector may continue that device
// record (re-enrolment from an intact state directory) even while it
// looks alive. No earlier enrolment, or one that cannot be read, sends
// no proof: the collector then decides by its other rules. The same
// collector is the same URL and a stored CA that trust still names: a
// collector rebuilt at that URL has a new CA and would refuse a proof
// made with its predecessor's certificate (403 bad_proof), and with it
// the enrolment. Any collector of the deployment enrolled with counts as
// the same.
func keyProof(dir *state.Dir, collector string, trust Trust, newKey *ecdsa.PrivateKey, now time.Time) *wire.EnrollProof {
	dev, err := dir.Device()
	if err != nil || dev.DeviceID == "" || !slices.Contains(dev.URLs(), collector) {
		return nil
	}
	keyPEM, certPEM, caPEM, err := dir.Credentials()
	if err != nil || trust.matchesCA(caPEM) != nil {
		return nil
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	old, ok := parsed.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil
	}
	spki, err := x509.MarshalPKIXPublicKey(&newKey.PublicKey)
	if err != nil {
		return nil
	}
	ts := now.UTC().Truncate(time.Second)
	sum := sha256.Sum256(wire.EnrollProofMessage(spki, dev.DeviceID, ts))
	sig, err := ecdsa.SignASN1(rand.Reader, old, sum[:])
	if err != nil {
		return nil
	}
	return &wire.EnrollProof{Certificate: string(certPEM), Timestamp: ts, Signature: base64.StdEncoding.EncodeToString(sig)}
}

// NewKeyAndCSR generates an ECDSA P-256 key and a PEM CSR signed by it.
// The collector sets the subject it certifies; cn is only a hint for
// people reading the request.
func NewKeyAndCSR(cn string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: strings.TrimSpace(cn)},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create csr: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// checkIssued verifies an issued client certificate: it is for our key,
// chains to the CA and is usable for client authentication now.
func checkIssued(certPEM, caPEM []byte, key *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, error) {
	certs, err := transport.ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	cert := certs[0]
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("issued certificate is not for the key this agent generated")
	}
	cas, err := transport.ParseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("collector's CA: %w", err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("issued certificate does not verify against the collector's CA: %w", err)
	}
	return cert, nil
}

// Credentials is the loaded client identity.
type Credentials struct {
	Device state.Device
	// TLS trusts only the collector's CA and presents the client certificate.
	TLS  *tls.Config
	Cert *x509.Certificate
	// CAPEM is the stored CA, for checking renewed certificates.
	CAPEM []byte
}

// Load reads the enrolment and credentials from dir (state.ErrNotEnrolled
// when there is none).
func Load(dir *state.Dir) (*Credentials, error) {
	dev, err := dir.Device()
	if err != nil {
		return nil, err
	}
	keyPEM, certPEM, caPEM, err := dir.Credentials()
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	cfg, err := transport.CATLS(caPEM)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{pair}
	return &Credentials{Device: dev, TLS: cfg, Cert: pair.Leaf, CAPEM: caPEM}, nil
}

// NeedsRenewal reports whether two thirds of cert's validity have passed.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotBefore.Add(life / 3 * 2))
}

// Renew asks the collector for a certificate for a new key, authenticating
// with the current one through client, and swaps key and certificate in dir
// as a pair. It returns the new certificate.
func Renew(ctx context.Context, dir *state.Dir, client *transport.Client, creds *Credentials, now time.Time) (*x509.Certificate, error) {
	key, csrPEM, err := NewKeyAndCSR(creds.Device.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	var resp wire.RenewResponse
	if _, err := client.PostJSON(ctx, RenewPath, wire.RenewRequest{CSR: string(csrPEM)}, false, &resp); err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	cert, err := checkIssued([]byte(resp.Certificate), creds.CAPEM, key, now)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	if cert.Subject.CommonName != creds.Device.DeviceID {
		return nil, fmt.Errorf("renew certificate: new certificate names device %q, not %q", cert.Subject.CommonName, creds.Device.DeviceID)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	if err := dir.SwapCredentials(keyPEM, []byte(resp.Certificate)); err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	return cert, nil
}
