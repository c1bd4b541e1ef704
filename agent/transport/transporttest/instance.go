package transporttest

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Instance serves the fake collector at an address of its own, as another
// collector process on the same database does: one CA, one store (the
// Collector's), its own listener. Stop closes the listener as a killed
// process would, Start opens it again at the same address, Fail makes it
// answer one status to everything.
type Instance struct {
	URL string
	// Host is the URL's host:port, what Request.Host records.
	Host string

	c    *Collector
	tls  *tls.Config
	mu   sync.Mutex
	srv  *httptest.Server
	fail int
}

// NewInstance starts another instance of c over HTTPS on 127.0.0.1.
func (c *Collector) NewInstance(t testing.TB) *Instance {
	t.Helper()
	c.mu.Lock()
	cfg := c.TLSCA.ServerTLS(t)
	c.mu.Unlock()
	in := &Instance{c: c, tls: cfg}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.serve(ln)
	in.URL = in.srv.URL
	in.Host = strings.TrimPrefix(in.URL, "https://")
	t.Cleanup(in.Stop)
	return in
}

func (in *Instance) serve(ln net.Listener) {
	srv := httptest.NewUnstartedServer(in)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = in.tls.Clone()
	srv.EnableHTTP2 = true
	srv.StartTLS()
	in.mu.Lock()
	in.srv = srv
	in.mu.Unlock()
}

// Stop closes the listener and every connection; requests get connection
// refused until Start.
func (in *Instance) Stop() {
	in.mu.Lock()
	srv := in.srv
	in.srv = nil
	in.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

// Start listens again at the instance's address after Stop.
func (in *Instance) Start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", in.Host)
	if err != nil {
		t.Fatalf("listen again on %s: %v", in.Host, err)
	}
	in.serve(ln)
}

// Fail makes the instance answer status to every request (0: serve again),
// recorded in the collector's Requests.
func (in *Instance) Fail(status int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fail = status
}

func (in *Instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	fail := in.fail
	in.mu.Unlock()
	if fail == 0 {
		in.c.ServeHTTP(w, r)
		return
	}
	in.c.mu.Lock()
	in.c.requests = append(in.c.requests, Request{Path: r.URL.Path, Proto: r.ProtoMajor, Host: r.Host, Status: fail})
	in.c.mu.Unlock()
	status, body := apiErr(fail, "test_failure", "instance failing (test)")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
