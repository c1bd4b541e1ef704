package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/rosterhq/roster/collector/pki"
)

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, _, err := pki.LoadOrCreate(t.TempDir(), []string{"localhost", "127.0.0.1", "::1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// testHandler answers with the protocol and, when a client certificate was
// verified, the device id it names.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		dev := "-"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			if id, err := pki.DeviceID(r.TLS.PeerCertificates[0]); err == nil {
				dev = id
			}
		}
		fmt.Fprintf(w, "%s %s", r.Proto, dev)
	})
	return mux
}

// start listens on 127.0.0.1:0 and serves until the test ends; the returned
// channel yields Serve's result.
func start(t *testing.T, ca *pki.CA, h http.Handler, h3 bool) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Listen(ctx, Options{Addr: "127.0.0.1:0", TLSConfig: ca.ServerTLS([]string{"h2", "http/1.1"}), Handler: h, HTTP3: h3})
	if err != nil {
		cancel()
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, cancel, done
}

func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, string(body)
}

func clientCert(t *testing.T, ca *pki.CA, deviceID string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	_, cert, err := ca.SignClient(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), deviceID, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func TestProtocols(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s, _, _ := start(t, ca, testHandler(), true)
	url := "https://" + s.Addr() + "/healthz"
	wantAltSvc := fmt.Sprintf(`h3=":%d"; ma=86400`, s.Port())
	device := clientCert(t, ca, "0b8d5c7e-3a2f-4f43-9d1e-2f6a7c1b9e01")

	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}}}
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	h3mtls := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{device}}}
	h2mtls := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{device}}, ForceAttemptHTTP2: true}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		h2mtls.CloseIdleConnections()
		h3.Close()
		h3mtls.Close()
	})
	tests := []struct {
		name string
		rt   http.RoundTripper
		want string
	}{
		{"http/2", h2, "HTTP/2.0 -"},
		{"http/1.1", h1, "HTTP/1.1 -"},
		{"http/3", h3, "HTTP/3.0 -"},
		{"http/2 with client certificate", h2mtls, "HTTP/2.0 0b8d5c7e-3a2f-4f43-9d1e-2f6a7c1b9e01"},
		{"http/3 with client certificate", h3mtls, "HTTP/3.0 0b8d5c7e-3a2f-4f43-9d1e-2f6a7c1b9e01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.rt, url)
			if resp.StatusCode != http.StatusOK || body != tt.want {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, tt.want)
			}
			if got := resp.Header.Get("Alt-Svc"); got != wantAltSvc {
				t.Errorf("Alt-Svc: got %q, want %q", got, wantAltSvc)
			}
			if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
				t.Errorf("got TLS state %+v, want TLS 1.3", resp.TLS)
			}
		})
	}
}

func TestTLS12Refused(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s, _, _ := start(t, ca, testHandler(), true)
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 handshake succeeded, want it refused")
	}
}

func TestSamePortAndAddr(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s, _, _ := start(t, ca, testHandler(), true)
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 and a real port", s.Addr())
	}
	if got := strconv.Itoa(s.Port()); got != port {
		t.Errorf("Port() = %s, want %s", got, port)
	}
	udpPort := s.udp.LocalAddr().(*net.UDPAddr).Port
	if udpPort != s.Port() {
		t.Errorf("UDP port %d, want the TCP port %d", udpPort, s.Port())
	}
	if !s.HTTP3() {
		t.Error("HTTP3() = false, want true")
	}
}

func TestWithoutHTTP3(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	s, _, _ := start(t, ca, testHandler(), false)
	if s.HTTP3() {
		t.Error("HTTP3() = true, want false")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, body := get(t, tr, "https://"+s.Addr()+"/healthz")
	if body != "HTTP/2.0 -" {
		t.Errorf("got %q, want %q", body, "HTTP/2.0 -")
	}
	if got := resp.Header.Get("Alt-Svc"); got != "" {
		t.Errorf("Alt-Svc: got %q, want none without HTTP/3", got)
	}
}

// TestGracefulShutdown cancels the context while a request is in flight:
// the request completes, Serve returns nil, and the port stops accepting.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Listen(ctx, Options{Addr: "127.0.0.1:0", TLSConfig: ca.ServerTLS(nil), Handler: h, HTTP3: true})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + s.Addr() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("in-flight request: got %q, %v; want \"done\"", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: got %v, want nil", err)
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Error("TCP port still accepts after shutdown")
	}
	// The UDP port is free again: binding it succeeds.
	u, err := net.ListenPacket("udp", s.Addr())
	if err != nil {
		t.Errorf("UDP port still bound after shutdown: %v", err)
	} else {
		u.Close()
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	tls12 := ca.ServerTLS(nil)
	tls12.MinVersion = tls.VersionTLS12
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	tests := []struct {
		name string
		opts Options
	}{
		{"no tls", Options{Addr: "127.0.0.1:0", Handler: testHandler()}},
		{"tls 1.2 allowed", Options{Addr: "127.0.0.1:0", TLSConfig: tls12, Handler: testHandler()}},
		{"no handler", Options{Addr: "127.0.0.1:0", TLSConfig: ca.ServerTLS(nil)}},
		{"bad address", Options{Addr: "127.0.0.1", TLSConfig: ca.ServerTLS(nil), Handler: testHandler()}},
		{"port in use", Options{Addr: busy.Addr().String(), TLSConfig: ca.ServerTLS(nil), Handler: testHandler(), HTTP3: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Listen(context.Background(), tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("got nil error, want one")
			}
		})
	}
}
