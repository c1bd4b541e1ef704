package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// memory is an in-memory transport.Memory.
type memory struct {
	mu     sync.Mutex
	choice state.TransportChoice
	saves  int
}

func (m *memory) LastTransport() (state.TransportChoice, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.choice, nil
}

func (m *memory) RememberTransport(c state.TransportChoice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.choice = c
	m.saves++
	return nil
}

func okHandler(hits *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"proto":` + string(rune('0'+r.ProtoMajor)) + `}`))
	})
}

func TestVerifyPinned(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "right CA")
	other := transporttest.NewCA(t, "other CA")
	pair := ca.ServerCert(t, "127.0.0.1", "collector.example")
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	// A leaf signed by another CA that also presents the pinned CA: the
	// pin is in the chain, but the leaf does not verify against it.
	foreign := other.ServerCert(t, "127.0.0.1")
	foreignLeaf, _ := x509.ParseCertificate(foreign.Certificate[0])

	tests := []struct {
		name   string
		chain  []*x509.Certificate
		pin    string
		host   string
		wantOK bool
	}{
		{"right pin", []*x509.Certificate{leaf, ca.Cert}, ca.Fingerprint(), "127.0.0.1", true},
		{"right pin dns name", []*x509.Certificate{leaf, ca.Cert}, ca.Fingerprint(), "collector.example", true},
		{"wrong pin", []*x509.Certificate{leaf, ca.Cert}, other.Fingerprint(), "127.0.0.1", false},
		{"CA not presented", []*x509.Certificate{leaf}, ca.Fingerprint(), "127.0.0.1", false},
		{"wrong host", []*x509.Certificate{leaf, ca.Cert}, ca.Fingerprint(), "evil.example", false},
		{"pinned CA presented beside a foreign leaf", []*x509.Certificate{foreignLeaf, ca.Cert}, ca.Fingerprint(), "127.0.0.1", false},
		{"no certificate", nil, ca.Fingerprint(), "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := transport.VerifyPinned(tt.chain, tt.pin, tt.host)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("VerifyPinned ok = %v (err %v), want %v", got, err, tt.wantOK)
			}
			var pe *transport.PinError
			if err != nil && !errors.As(err, &pe) {
				t.Errorf("error %v is not a *PinError", err)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	t.Parallel()
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"sha256:" + hex, "sha256:" + hex, false},
		{"SHA256:" + "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", "sha256:" + hex, false},
		{"sha256:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef", "sha256:" + hex, false},
		{hex, "", true},
		{"sha256:abcd", "", true},
		{"sha1:" + hex, "", true},
		{"sha256:" + hex[:62] + "zz", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := transport.ParseFingerprint(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTrustOverTLS runs real handshakes against a loopback server: only the
// right pin or the right CA file gets an answer, and a failed check is not
// retried.
func TestTrustOverTLS(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "collector CA")
	other := transporttest.NewCA(t, "other CA")
	var hits atomic.Int32
	base := transporttest.Servers(t, ca.ServerTLS(t), okHandler(&hits), false)

	pinned := func(pin string) func() (*tls.Config, error) {
		return func() (*tls.Config, error) { return transport.PinnedTLS(pin, "127.0.0.1") }
	}
	file := func(pemBytes []byte) func() (*tls.Config, error) {
		return func() (*tls.Config, error) { return transport.CATLS(pemBytes) }
	}
	tests := []struct {
		name   string
		cfg    func() (*tls.Config, error)
		wantOK bool
	}{
		{"right fingerprint", pinned(ca.Fingerprint()), true},
		{"wrong fingerprint", pinned(other.Fingerprint()), false},
		{"right CA file", file(ca.PEM), true},
		{"wrong CA file", file(other.PEM), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.cfg()
			if err != nil {
				t.Fatal(err)
			}
			c, err := transport.New(transport.Options{BaseURL: base, TLS: cfg, Mode: transport.ModeHTTPS,
				RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := hits.Load()
			resp, err := c.Do(context.Background(), transport.Request{Method: "GET", Path: "/x"})
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("ok = %v (err %v), want %v", got, err, tt.wantOK)
			}
			if err != nil {
				if !transport.Permanent(err) {
					t.Errorf("trust failure %v not classed permanent", err)
				}
				if hits.Load() != before {
					t.Errorf("server handled a request over an untrusted connection")
				}
				return
			}
			if resp.StatusCode != 200 || resp.Transport != transport.UsedHTTPS {
				t.Errorf("got %d over %s, want 200 over https", resp.StatusCode, resp.Transport)
			}
		})
	}
}

// TestRetries: 5xx is retried until success; 4xx never.
func TestRetries(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "collector CA")
	tests := []struct {
		name      string
		statuses  []int // answered in turn; the last repeats
		wantCalls int32
		wantCode  int
		wantErr   string
	}{
		{"503 twice then ok", []int{503, 503, 200}, 3, 200, ""},
		{"400 not retried", []int{400, 200}, 1, 400, "bad_request"},
		{"403 not retried", []int{403, 200}, 1, 403, "certificate_revoked"},
		{"401 not retried", []int{401, 200}, 1, 401, "unauthenticated"},
		{"503 until retries run out", []int{503}, 4, 503, "internal"},
	}
	codes := map[int]string{400: "bad_request", 401: "unauthenticated", 403: "certificate_revoked", 503: "internal"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				st := tt.statuses[min(n, len(tt.statuses)-1)]
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(st)
				if st == 200 {
					w.Write([]byte(`{"status":"applied"}`))
					return
				}
				w.Write([]byte(`{"error":{"code":"` + codes[st] + `","message":"no"}}`))
			})
			base := transporttest.Servers(t, ca.ServerTLS(t), h, false)
			cfg, _ := transport.CATLS(ca.PEM)
			c, err := transport.New(transport.Options{BaseURL: base, TLS: cfg, Mode: transport.ModeHTTPS,
				RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var out struct{ Status string }
			_, err = c.PostJSON(context.Background(), "/api/v1/agent/report", map[string]int{"seq": 1}, true, &out)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("server called %d times, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || out.Status != "applied" {
					t.Fatalf("got %+v, %v; want applied", out, err)
				}
				return
			}
			var he *transport.HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want *HTTPError", err)
			}
			if he.Status != tt.wantCode || he.Code != tt.wantErr {
				t.Errorf("got %d %s, want %d %s", he.Status, he.Code, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestNetworkErrorRetried: a server that drops every connection is a
// network error, retried RetryMax times before giving up.
func TestNetworkErrorRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	ca := transporttest.NewCA(t, "collector CA")
	cfg, _ := transport.CATLS(ca.PEM)
	c, err := transport.New(transport.Options{BaseURL: "https://" + ln.Addr().String(), TLS: cfg, Mode: transport.ModeHTTPS,
		RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err = c.Do(context.Background(), transport.Request{Method: "GET", Path: "/"}); err == nil {
		t.Fatal("got no error from a server that drops connections")
	}
	// Each failed attempt saw its connection accepted and closed.
	if got := accepts.Load(); got != 3 {
		t.Errorf("server accepted %d connections, want 3 (1 + 2 retries)", got)
	}
}

// TestHTTP3WithClientCert: the http3 mode speaks HTTP/3 with the client
// certificate, and auto mode prefers it and remembers it.
func TestHTTP3WithClientCert(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "collector CA")
	srvTLS := ca.ServerTLS(t)
	srvTLS.ClientAuth = tls.RequireAndVerifyClientCert
	var protos sync.Map
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			w.WriteHeader(401)
			return
		}
		protos.Store(r.ProtoMajor, true)
		w.Write([]byte("{}"))
	})
	base := transporttest.Servers(t, srvTLS, h, true)
	cfg := clientTLS(t, ca)

	for _, mode := range []string{transport.ModeHTTP3, transport.ModeAuto} {
		t.Run(mode, func(t *testing.T) {
			mem := &memory{}
			c, err := transport.New(transport.Options{BaseURL: base, TLS: cfg, Mode: mode, QUICTimeout: 10 * time.Second, Memory: mem})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resp, err := c.Do(context.Background(), transport.Request{Method: "GET", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Transport != transport.UsedH3 {
				t.Errorf("got %d over %s, want 200 over h3", resp.StatusCode, resp.Transport)
			}
			if mode == transport.ModeAuto && mem.choice.Transport != transport.UsedH3 {
				t.Errorf("remembered %q, want h3", mem.choice.Transport)
			}
		})
	}
	if _, ok := protos.Load(3); !ok {
		t.Error("server saw no HTTP/3 request")
	}
}

func clientTLS(t *testing.T, ca *transporttest.CA) *tls.Config {
	t.Helper()
	_, csr, err := newCSR()
	if err != nil {
		t.Fatal(err)
	}
	key := csr.key
	certPEM, err := ca.SignClient(csr.pem, "device-1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := transport.CATLS(ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg
}

// TestAutoFallback: with nothing on the UDP port, auto falls back to HTTPS
// and remembers it; it keeps to HTTPS within the retry interval and tries
// HTTP/3 again after it.
func TestAutoFallback(t *testing.T) {
	t.Parallel()
	ca := transporttest.NewCA(t, "collector CA")
	var hits atomic.Int32
	base := transporttest.Servers(t, ca.ServerTLS(t), okHandler(&hits), false)
	cfg, _ := transport.CATLS(ca.PEM)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	mem := &memory{}
	opt := transport.Options{BaseURL: base, TLS: cfg, Mode: transport.ModeAuto,
		QUICTimeout: time.Second, HTTP3RetryInterval: 24 * time.Hour, Memory: mem,
		Now: func() time.Time { return now }}
	c, err := transport.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Do(context.Background(), transport.Request{Method: "GET", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Transport != transport.UsedHTTPS {
		t.Errorf("used %s, want https", resp.Transport)
	}
	if want := (state.TransportChoice{Transport: transport.UsedHTTPS, At: now}); mem.choice != want {
		t.Errorf("remembered %+v, want %+v", mem.choice, want)
	}

	// Now an HTTP/3 server appears on that port: within the interval the
	// client stays on HTTPS, after it HTTP/3 is tried and taken.
	u, _ := url.Parse(base)
	transporttest.StartH3(t, ca.ServerTLS(t), okHandler(&hits), u.Host)
	for _, step := range []struct {
		after time.Duration
		want  string
	}{
		{time.Hour, transport.UsedHTTPS},
		{25 * time.Hour, transport.UsedH3},
	} {
		stepNow := now.Add(step.after)
		o := opt
		o.QUICTimeout = 10 * time.Second
		o.Now = func() time.Time { return stepNow }
		c2, err := transport.New(o)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c2.Do(context.Background(), transport.Request{Method: "GET", Path: "/"})
		c2.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Transport != step.want {
			t.Errorf("%v after the fallback: used %s, want %s", step.after, resp.Transport, step.want)
		}
	}
	if mem.choice.Transport != transport.UsedH3 {
		t.Errorf("remembered %q after HTTP/3 worked again, want h3", mem.choice.Transport)
	}
}

func TestNewRejectsUnknownMode(t *testing.T) {
	t.Parallel()
	_, err := transport.New(transport.Options{BaseURL: "https://127.0.0.1:1", TLS: &tls.Config{}, Mode: "quic"})
	if err == nil {
		t.Fatal("mode quic accepted")
	}
}
