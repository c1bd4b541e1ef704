// Package transporttest gives agent tests what a collector would: a CA made
// with crypto/x509 (agent code never imports the collector's pki), server
// certificates for loopback, and a fake collector serving the agent
// endpoints of docs/api.md over HTTPS and, when asked, HTTP/3 on the same
// port number, and further instances of it sharing its CA and store
// (instance.go), as collectors on one database do.
package transporttest

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/rosterhq/roster/shared/wire"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA makes a CA valid from an hour ago for a year.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Fingerprint is "sha256:<hex>" of the CA certificate, what agents pin.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.Cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ServerCert issues a server certificate for names (IPs or DNS names) and
// returns it with the CA in the chain, as the collector presents it.
func (ca *CA) ServerCert(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(0, 1, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key}
}

// ServerTLS is a TLS 1.3 server configuration for 127.0.0.1 that verifies
// client certificates against the CA when one is given.
func (ca *CA) ServerTLS(t testing.TB) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{ca.ServerCert(t, "127.0.0.1", "localhost")},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
}

// SignClient signs a PEM CSR as a client certificate for cn.
func (ca *CA) SignClient(csrPEM []byte, cn string, notBefore, notAfter time.Time) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	u, _ := url.Parse("urn:roster:device:" + cn)
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: n.Add(n, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: cn},
		URIs:         []*url.URL{u},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// Servers starts handler over HTTPS on 127.0.0.1 and, when h3, over HTTP/3
// on the same port number of UDP, and returns the base URL. Both stop when
// the test ends.
func Servers(t testing.TB, tlsCfg *tls.Config, handler http.Handler, h3 bool) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = tlsCfg.Clone()
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if !h3 {
		return srv.URL
	}
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	StartH3(t, tlsCfg, handler, "127.0.0.1:"+port)
	return srv.URL
}

// StartH3 serves handler over HTTP/3 on the UDP address addr.
func StartH3(t testing.TB, tlsCfg *tls.Config, handler http.Handler, addr string) *net.UDPAddr {
	t.Helper()
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	h3 := &http3.Server{TLSConfig: http3.ConfigureTLSConfig(tlsCfg.Clone()), Handler: handler}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h3.Serve(conn)
	}()
	t.Cleanup(func() {
		h3.Close()
		conn.Close()
		<-done
	})
	return conn.LocalAddr().(*net.UDPAddr)
}

// Collector is a fake collector for the agent endpoints: it enrols with
// one secret, renews, and applies full and delta reports by sequence
// number and hash as docs/api.md says.
type Collector struct {
	// CA signs client certificates and is returned at enrolment; the
	// server's own TLS chain always comes from TLSCA (the same CA unless
	// UseCA substituted another).
	CA     *CA
	TLSCA  *CA
	Secret string
	URL    string

	validity time.Duration // of issued client certificates
	backdate time.Duration // how long ago enrolment certificates start

	mu       sync.Mutex
	devices  map[string]*device
	revoked  map[string]bool
	requests []Request
	nextID   int
	schedule *wire.Schedule // sent in every ack when set
	down     bool           // answer 503 to everything
	cmdKey   ed25519.PrivateKey
	queue    []*queued
	statuses []wire.CommandStatus
	// speaks is the highest protocol version it speaks (SpeakProtocol;
	// 0: wire.ProtocolVersion).
	speaks int
}

type device struct {
	seq      uint64
	hash     string
	snapshot *wire.Snapshot
}

// Request is what the fake collector saw.
type Request struct {
	Path     string
	Proto    int // 1, 2 or 3
	DeviceID string
	Kind     string
	Seq      uint64
	Status   int
	// Host is the address the request came to, which tells Instances
	// apart.
	Host string
	// Protocol is a report's or heartbeat's protocol_version, and Hash a
	// report's hash.
	Protocol int
	Hash     string
}

// NewCollector starts a fake collector on 127.0.0.1 (HTTP/3 too when h3).
func NewCollector(t testing.TB, secret string, h3 bool) *Collector {
	t.Helper()
	ca := NewCA(t, "fake collector CA")
	_, cmdKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{CA: ca, TLSCA: ca, Secret: secret, validity: 90 * 24 * time.Hour,
		devices: map[string]*device{}, revoked: map[string]bool{}, cmdKey: cmdKey}
	c.URL = Servers(t, c.CA.ServerTLS(t), c, h3)
	return c
}

// SpeakProtocol makes the collector speak protocol versions up to v only,
// as a collector of an earlier release does: later reports and heartbeats
// are refused (400), and from a version 1 collector acks carry no
// protocol_version.
func (c *Collector) SpeakProtocol(v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.speaks = v
}

// protocol is the highest version it speaks; mu held.
func (c *Collector) protocol() int {
	if c.speaks == 0 {
		return wire.ProtocolVersion
	}
	return c.speaks
}

// advertised is what its acks say of it; mu held.
func (c *Collector) advertised() int {
	if v := c.protocol(); v > 1 {
		return v
	}
	return 0
}

// Requests returns what was seen so far.
func (c *Collector) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// UseCA makes the collector sign with and return another CA than the one
// in its TLS chain, as a substituted server would.
func (c *Collector) UseCA(ca *CA) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.CA = ca
}

// Backdate makes enrolment certificates start d ago, so a test can reach
// the renewal point without waiting.
func (c *Collector) Backdate(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backdate = d
}

// Revoke refuses the device's certificates from now on.
func (c *Collector) Revoke(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked[id] = true
}

// ForgetBase drops the stored snapshot hash so the next delta gets resync.
func (c *Collector) ForgetBase(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.devices[id]; d != nil {
		d.hash, d.snapshot = "", nil
	}
}

// Snapshot is the device's stored snapshot.
func (c *Collector) Snapshot(id string) *wire.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.devices[id]; d != nil {
		return d.snapshot
	}
	return nil
}

func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := Request{Path: r.URL.Path, Proto: r.ProtoMajor, Host: r.Host}
	var status int
	var body any
	if c.down {
		status, body = apiErr(503, "not_ready", "collector down (test)")
	} else {
		status, body = c.serve(r, &rec)
	}
	rec.Status = status
	c.requests = append(c.requests, rec)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func apiErr(status int, code, msg string) (int, any) {
	return status, wire.ErrorBody{Error: wire.APIError{Code: code, Message: msg}}
}

func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func (c *Collector) serve(r *http.Request, rec *Request) (int, any) {
	if r.Method != http.MethodPost {
		return apiErr(405, "method_not_allowed", "POST only")
	}
	switch r.URL.Path {
	case "/api/v1/enroll":
		var req wire.EnrollRequest
		if err := decodeStrict(r.Body, &req); err != nil {
			return apiErr(400, "malformed_json", err.Error())
		}
		if req.Secret != c.Secret {
			return apiErr(403, "secret_invalid", "enrolment secret is unknown")
		}
		c.nextID++
		id := "device-" + strconv.Itoa(c.nextID)
		rec.DeviceID = id
		now := time.Now()
		cert, err := c.CA.SignClient([]byte(req.CSR), id, now.Add(-5*time.Minute-c.backdate), now.Add(c.validity-c.backdate))
		if err != nil {
			return apiErr(400, "bad_csr", err.Error())
		}
		return 201, wire.EnrollResponse{DeviceID: id, Certificate: string(cert), CA: string(c.CA.PEM), NotAfter: now.Add(c.validity),
			CommandKey: base64.StdEncoding.EncodeToString(c.CommandKey())}
	}
	id, status, body := c.authenticate(r)
	if status != 0 {
		return status, body
	}
	rec.DeviceID = id
	switch r.URL.Path {
	case "/api/v1/agent/renew":
		var req wire.RenewRequest
		if err := decodeStrict(r.Body, &req); err != nil {
			return apiErr(400, "malformed_json", err.Error())
		}
		now := time.Now()
		cert, err := c.CA.SignClient([]byte(req.CSR), id, now.Add(-5*time.Minute), now.Add(c.validity))
		if err != nil {
			return apiErr(400, "bad_csr", err.Error())
		}
		return 200, wire.RenewResponse{Certificate: string(cert), NotAfter: now.Add(c.validity)}
	case "/api/v1/agent/report":
		status, body := c.report(r, id, rec)
		if ack, ok := body.(wire.Ack); ok {
			ack.Commands = c.pending(id)
			ack.ProtocolVersion = c.advertised()
			body = ack
		}
		return status, body
	case "/api/v1/agent/heartbeat":
		status, body := c.heartbeat(r, id, rec)
		if ack, ok := body.(wire.HeartbeatAck); ok {
			ack.Commands = c.pending(id)
			body = ack
		}
		return status, body
	case "/api/v1/agent/commands/status":
		return c.commandStatus(r, id, rec)
	}
	return apiErr(404, "not_found", "no such endpoint")
}

func (c *Collector) authenticate(r *http.Request) (string, int, any) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		s, b := apiErr(401, "unauthenticated", "no client certificate")
		return "", s, b
	}
	id := r.TLS.VerifiedChains[0][0].Subject.CommonName
	if c.revoked[id] {
		s, b := apiErr(403, "certificate_revoked", "this device's certificate is revoked")
		return "", s, b
	}
	return id, 0, nil
}

func (c *Collector) report(r *http.Request, id string, rec *Request) (int, any) {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return apiErr(415, "unsupported_media_type", "want Content-Encoding: gzip")
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		return apiErr(400, "bad_gzip", err.Error())
	}
	var rep wire.Report
	if err := decodeStrict(zr, &rep); err != nil {
		return apiErr(400, "malformed_json", err.Error())
	}
	rec.Kind, rec.Seq, rec.Protocol, rec.Hash = rep.Kind, rep.Seq, rep.ProtocolVersion, rep.Hash
	if rep.ProtocolVersion < 1 || rep.ProtocolVersion > c.protocol() {
		return apiErr(400, "bad_report", fmt.Sprintf("protocol_version %d not supported (1 to %d)", rep.ProtocolVersion, c.protocol()))
	}
	if v := wire.HashVersion(rep.Hash); v == 0 || v > rep.ProtocolVersion {
		return apiErr(400, "bad_report", fmt.Sprintf("hash %q is not of protocol version 1 to %d", rep.Hash, rep.ProtocolVersion))
	}
	d := c.devices[id]
	if d == nil {
		d = &device{}
		c.devices[id] = d
	}
	if rep.Seq <= d.seq {
		return 200, wire.Ack{Status: wire.AckDuplicate, Seq: rep.Seq, Hash: d.hash, DeviceID: id, Schedule: c.schedule}
	}
	var snap *wire.Snapshot
	switch rep.Kind {
	case wire.ReportFull:
		if rep.Snapshot == nil {
			return apiErr(400, "bad_report", "full report without snapshot")
		}
		snap = rep.Snapshot
	case wire.ReportDelta:
		if rep.Delta == nil || d.snapshot == nil || rep.BaseHash != d.hash {
			return 200, wire.Ack{Status: wire.AckResync, Seq: rep.Seq, DeviceID: id, Message: "unknown base"}
		}
		if snap, err = wire.Apply(d.snapshot, rep.Delta); err != nil {
			return 200, wire.Ack{Status: wire.AckResync, Seq: rep.Seq, DeviceID: id, Message: err.Error()}
		}
	default:
		return apiErr(400, "bad_report", fmt.Sprintf("unknown kind %q", rep.Kind))
	}
	h, err := wire.SnapshotHashLike(snap, rep.Hash)
	if err != nil || h != rep.Hash {
		return 200, wire.Ack{Status: wire.AckResync, Seq: rep.Seq, DeviceID: id, Message: "hash mismatch"}
	}
	d.seq, d.hash, d.snapshot = rep.Seq, h, snap
	return 200, wire.Ack{Status: wire.AckApplied, Seq: rep.Seq, Hash: h, DeviceID: id, Schedule: c.schedule}
}
