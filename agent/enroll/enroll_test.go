package enroll_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/transport/transporttest"
	"github.com/rosterhq/roster/shared/wire"
)

func request(c *transporttest.Collector, trust enroll.Trust) enroll.Request {
	return enroll.Request{
		Collector: c.URL,
		Secret:    "s3cret",
		Trust:     trust,
		Identity:  wire.Identity{Hostname: "host-a", Platform: "linux", SystemSerial: "SN1"},
		Transport: transport.Options{Mode: transport.ModeHTTPS, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond},
	}
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	other := transporttest.NewCA(t, "other CA")
	tests := []struct {
		name    string
		trust   enroll.Trust
		secret  string
		wantErr string
	}{
		{"right fingerprint", enroll.Trust{Fingerprint: c.CA.Fingerprint()}, "", ""},
		{"CA file", enroll.Trust{CAPEM: c.CA.PEM}, "", ""},
		{"wrong fingerprint", enroll.Trust{Fingerprint: other.Fingerprint()}, "", "pinned fingerprint"},
		{"wrong CA file", enroll.Trust{CAPEM: other.PEM}, "", "certificate signed by unknown authority"},
		{"no trust", enroll.Trust{}, "", "no trust for the collector"},
		{"bad secret", enroll.Trust{Fingerprint: c.CA.Fingerprint()}, "wrong", "secret_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
			if err != nil {
				t.Fatal(err)
			}
			r := request(c, tt.trust)
			if tt.secret != "" {
				r.Secret = tt.secret
			}
			res, err := enroll.Enroll(context.Background(), dir, r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if _, err := dir.Device(); !errors.Is(err, state.ErrNotEnrolled) {
					t.Errorf("failed enrolment left a device record (err %v)", err)
				}
				if _, err := os.Stat(filepath.Join(dir.Path(), state.KeyFile)); err == nil {
					t.Errorf("failed enrolment left a key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.DeviceID, "device-") || res.Collector != c.URL {
				t.Errorf("result %+v", res)
			}
			dev, err := dir.Device()
			if err != nil || dev.DeviceID != res.DeviceID {
				t.Fatalf("stored device %+v, %v; want %s", dev, err, res.DeviceID)
			}
			creds, err := enroll.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if creds.Cert.Subject.CommonName != res.DeviceID {
				t.Errorf("certificate for %q, want %q", creds.Cert.Subject.CommonName, res.DeviceID)
			}
			_, _, caPEM, _ := dir.Credentials()
			if string(caPEM) != string(c.CA.PEM) {
				t.Errorf("stored CA is not the collector's")
			}
			if key, err := dir.CommandKey(); err != nil || !key.Equal(c.CommandKey()) {
				t.Errorf("stored command key %x, %v; want the collector's %x", key, err, c.CommandKey())
			}
			// The stored credentials authenticate: an mTLS call succeeds.
			cl, err := transport.New(transport.Options{BaseURL: c.URL, TLS: creds.TLS, Mode: transport.ModeHTTPS})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := enroll.Renew(context.Background(), dir, cl, creds, time.Now()); err != nil {
				t.Errorf("renew with the enrolled certificate: %v", err)
			}
		})
	}
}

// TestEnrollRejectsSubstitutedCA: a server that passes the TLS check but
// hands back a different CA than the one trusted is refused, so the agent
// never stores a CA it was not told to trust.
func TestEnrollRejectsSubstitutedCA(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	c.UseCA(transporttest.NewCA(t, "substitute CA"))
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = enroll.Enroll(context.Background(), dir, request(c, enroll.Trust{Fingerprint: c.TLSCA.Fingerprint()}))
	if err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Fatalf("err = %v, want a CA mismatch", err)
	}
	if _, err := dir.Device(); !errors.Is(err, state.ErrNotEnrolled) {
		t.Errorf("refused enrolment left a device record (err %v)", err)
	}
}

func TestNeedsRenewal(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "ca")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, csr, err := enroll.NewKeyAndCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignClient(csr, "d", start, start.Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := transport.ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert := certs[0]
	tests := []struct {
		at   time.Duration
		want bool
	}{
		{0, false},
		{30 * 24 * time.Hour, false},
		{60*24*time.Hour - time.Second, false},
		{60 * 24 * time.Hour, true},
		{89 * 24 * time.Hour, true},
		{91 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		if got := enroll.NeedsRenewal(cert, start.Add(tt.at)); got != tt.want {
			t.Errorf("NeedsRenewal after %v = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestRenewSwapsKeyAndCert(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := enroll.Enroll(context.Background(), dir, request(c, enroll.Trust{Fingerprint: c.CA.Fingerprint()}))
	if err != nil {
		t.Fatal(err)
	}
	oldKey, oldCert, _, _ := dir.Credentials()
	creds, err := enroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := transport.New(transport.Options{BaseURL: c.URL, TLS: creds.TLS, Mode: transport.ModeHTTPS})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cert, err := enroll.Renew(context.Background(), dir, cl, creds, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newKey, newCert, _, _ := dir.Credentials()
	if string(newKey) == string(oldKey) || string(newCert) == string(oldCert) {
		t.Fatal("key or certificate unchanged after renewal")
	}
	after, err := enroll.Load(dir)
	if err != nil {
		t.Fatalf("renewed pair does not load: %v", err)
	}
	if !after.Cert.Equal(cert) || after.Cert.Subject.CommonName != res.DeviceID {
		t.Errorf("loaded certificate %s, want the renewed one for %s", after.Cert.Subject.CommonName, res.DeviceID)
	}
	if pub, ok := after.Cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Equal(creds.Cert.PublicKey) {
		t.Error("renewed certificate reuses the old key")
	}
	// The renew call was authenticated as the device.
	reqs := c.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != enroll.RenewPath || last.DeviceID != res.DeviceID || last.Status != 200 {
		t.Errorf("last request %+v, want an authenticated renew", last)
	}
}

// enrolRecorder stands in front of a fake collector and keeps every
// enrolment request; rebuild swaps in another collector (another CA) at
// the same address, as a collector rebuilt from an empty data directory.
type enrolRecorder struct {
	mu       sync.Mutex
	target   *transporttest.Collector
	cert     tls.Certificate
	requests []wire.EnrollRequest
}

func newEnrolRecorder(t *testing.T, c *transporttest.Collector) (*enrolRecorder, string) {
	t.Helper()
	rec := &enrolRecorder{}
	rec.rebuild(t, c)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{rec.cert}, NextProtos: []string{"h2", "http/1.1"}}, nil
	}}
	return rec, transporttest.Servers(t, cfg, rec, false)
}

func (rec *enrolRecorder) rebuild(t *testing.T, c *transporttest.Collector) {
	t.Helper()
	cert := c.TLSCA.ServerCert(t, "127.0.0.1", "localhost")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.target, rec.cert = c, cert
}

func (rec *enrolRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec.mu.Lock()
	target := rec.target
	if r.URL.Path == enroll.EnrollPath {
		var req wire.EnrollRequest
		if err := json.Unmarshal(body, &req); err == nil {
			rec.requests = append(rec.requests, req)
		}
	}
	rec.mu.Unlock()
	target.ServeHTTP(w, r)
}

func (rec *enrolRecorder) last(t *testing.T) wire.EnrollRequest {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.requests) == 0 {
		t.Fatal("no enrolment request recorded")
	}
	return rec.requests[len(rec.requests)-1]
}

// checkProof verifies a proof as the collector does (collector/pki's
// VerifyKeyProof, which the agent may not import): signed with the key of
// oldCertPEM over the new CSR's key, the old device id and a fresh time.
func checkProof(t *testing.T, req wire.EnrollRequest, oldCertPEM []byte, oldDevice string) {
	t.Helper()
	p := req.Proof
	if p == nil {
		t.Fatal("re-enrolment from an intact state directory sent no key proof")
	}
	if p.Certificate != string(oldCertPEM) {
		t.Errorf("proof carries certificate\n%s\nwant the state directory's\n%s", p.Certificate, oldCertPEM)
	}
	if d := time.Since(p.Timestamp); d < -time.Minute || d > time.Minute {
		t.Errorf("proof timestamp %s is %s from now", p.Timestamp, d)
	}
	certs, err := transport.ParseCertificates(oldCertPEM)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil {
		t.Fatal("enrolment CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	oldPub := certs[0].PublicKey.(*ecdsa.PublicKey)
	if oldPub.Equal(csr.PublicKey) {
		t.Error("re-enrolment reuses the old key")
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil {
		t.Fatalf("proof signature: %v", err)
	}
	sum := sha256.Sum256(wire.EnrollProofMessage(csr.RawSubjectPublicKeyInfo, oldDevice, p.Timestamp))
	if !ecdsa.VerifyASN1(oldPub, sum[:], sig) {
		t.Error("proof signature does not verify with the old certificate's key over the new CSR's key")
	}
}

// TestEnrollSendsKeyProof: an agent re-enrolling from a state directory
// that holds an enrolment with the same collector proves it holds that
// enrolment's key; a fresh directory, another collector, or the same
// address now serving another CA (a rebuilt collector, which would refuse
// the proof as bad_proof and so the enrolment) gets none.
func TestEnrollSendsKeyProof(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	rec, url := newEnrolRecorder(t, c)
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	enrol := func(target *transporttest.Collector, url string) enroll.Result {
		t.Helper()
		r := request(target, enroll.Trust{Fingerprint: target.CA.Fingerprint()})
		r.Collector = url
		res, err := enroll.Enroll(context.Background(), dir, r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	credentials := func() []byte {
		t.Helper()
		_, certPEM, _, err := dir.Credentials()
		if err != nil {
			t.Fatal(err)
		}
		return certPEM
	}

	first := enrol(c, url)
	if p := rec.last(t).Proof; p != nil {
		t.Errorf("first enrolment sent a proof %+v", p)
	}

	oldCert := credentials()
	enrol(c, url)
	checkProof(t, rec.last(t), oldCert, first.DeviceID)

	// The collector at this address was rebuilt with a new CA: the stored
	// certificate is not its own, so no proof, and the enrolment works.
	rebuilt := transporttest.NewCollector(t, "s3cret", false)
	rec.rebuild(t, rebuilt)
	afterRebuild := enrol(rebuilt, url)
	if p := rec.last(t).Proof; p != nil {
		t.Errorf("enrolment with a rebuilt collector (another CA) sent a proof for %s", first.DeviceID)
	}
	oldCert = credentials()
	enrol(rebuilt, url)
	checkProof(t, rec.last(t), oldCert, afterRebuild.DeviceID)

	// Another collector (another address): the state directory's
	// enrolment is not with it.
	other, otherURL := newEnrolRecorder(t, c)
	enrol(c, otherURL)
	if p := other.last(t).Proof; p != nil {
		t.Errorf("enrolment with another collector sent a proof for %s", afterRebuild.DeviceID)
	}
}

// TestEnrollFailover: with several collectors the enrolment goes to the
// first that answers, and a refusal is not a reason to ask another.
func TestEnrollFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakA  func(*transporttest.Instance)
		secret  string
		wantVia int // index of the instance that enrols; -1: none
		wantErr string
	}{
		{"first answers", func(*transporttest.Instance) {}, "", 0, ""},
		{"first stopped", (*transporttest.Instance).Stop, "", 1, ""},
		{"first 503", func(a *transporttest.Instance) { a.Fail(http.StatusServiceUnavailable) }, "", 1, ""},
		{"first 421", func(a *transporttest.Instance) { a.Fail(http.StatusMisdirectedRequest) }, "", 1, ""},
		{"first 400", func(a *transporttest.Instance) { a.Fail(http.StatusBadRequest) }, "", -1, "400"},
		{"secret refused", func(*transporttest.Instance) {}, "wrong", -1, "secret_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := transporttest.NewCollector(t, "s3cret", false)
			a, b := c.NewInstance(t), c.NewInstance(t)
			tt.breakA(a)
			dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
			if err != nil {
				t.Fatal(err)
			}
			r := request(c, enroll.Trust{Fingerprint: c.CA.Fingerprint()})
			r.Collector, r.Collectors = "", []string{a.URL, b.URL + "/"}
			if tt.secret != "" {
				r.Secret = tt.secret
			}
			res, err := enroll.Enroll(context.Background(), dir, r)
			for _, req := range c.Requests() {
				if req.Host == b.Host && tt.wantVia != 1 {
					t.Errorf("second collector asked: %+v", req)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			via := []string{a.URL, b.URL}[tt.wantVia]
			dev, err := dir.Device()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{a.URL, b.URL}
			if res.Collector != via || dev.Collector != via || !slices.Equal(dev.Collectors, want) || !slices.Equal(res.Collectors, want) {
				t.Errorf("enrolled via %s (record %s, list %v, result list %v), want via %s with %v",
					res.Collector, dev.Collector, dev.Collectors, res.Collectors, via, want)
			}
		})
	}
}
