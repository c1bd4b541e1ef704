package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// ticketRig is a CA, a device certificate it issued, and a clock the
// server's ticket keys follow.
type ticketRig struct {
	ca     *CA
	client tls.Certificate
	now    time.Time
}

func newTicketRig(t *testing.T, dir string) *ticketRig {
	t.Helper()
	now := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	ca, _, err := LoadOrCreate(dir, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, cert, err := ca.SignClient(csrFor(t, key), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", now, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &ticketRig{ca: ca, client: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, now: now}
}

// server is ca's ServerTLS with the rig's clock.
func (r *ticketRig) server() *tls.Config {
	cfg := r.ca.ServerTLS(nil)
	tk := newTickets(r.ca.Command, r.ca.Cert.Raw, func() time.Time { return r.now })
	cfg.WrapSession, cfg.UnwrapSession = tk.wrap, tk.unwrap
	cfg.Time = func() time.Time { return r.now }
	return cfg
}

// handshake runs one TLS handshake over a pipe and returns what the
// server saw.
func handshake(t *testing.T, server, client *tls.Config) tls.ConnectionState {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc, cc := tls.Server(a, server), tls.Client(b, client)
	errc := make(chan error, 1)
	go func() {
		err := sc.Handshake()
		if err == nil {
			// Read until the client closes: lets the session ticket,
			// written after the handshake, reach the client.
			_, _ = sc.Read(make([]byte, 1))
		}
		errc <- err
	}()
	if err := cc.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	// The ticket arrives with the first read after the handshake.
	_ = cc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = cc.Read(make([]byte, 1))
	cc.Close()
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return sc.ConnectionState()
}

func TestSessionTickets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newTicketRig(t, dir)
	client := &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: r.ca.Pool(), ServerName: "localhost",
		Certificates: []tls.Certificate{r.client}, ClientSessionCache: tls.NewLRUClientSessionCache(1),
		Time: func() time.Time { return r.now },
	}
	if cs := handshake(t, r.server(), client); cs.DidResume {
		t.Fatal("the first handshake resumed")
	}
	steps := []struct {
		name   string
		server func() *tls.Config
		later  time.Duration
		resume bool
	}{
		{"same server", r.server, 0, true},
		{"another collector of the deployment", func() *tls.Config {
			again, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if again.Command, err = LoadCommandKey(dir); err != nil {
				t.Fatal(err)
			}
			return (&ticketRig{ca: again, now: r.now}).server()
		}, 0, true},
		// Sealed at 23:00 on day D: still open on D+1 (key rotated).
		{"next day", r.server, 2 * time.Hour, true},
		// Each resumption brings a new ticket sealed that day; two days
		// on, its key is retired.
		{"two days later", r.server, 49 * time.Hour, false},
		{"a foreign CA's collector", func() *tls.Config {
			other := newTicketRig(t, filepath.Join(t.TempDir(), "other"))
			other.now = r.now
			cfg := other.server()
			cfg.ClientCAs = r.ca.Pool() // accept this device; only the ticket key differs
			cfg.Certificates = []tls.Certificate{r.ca.Server}
			return cfg
		}, 0, false},
	}
	for _, s := range steps {
		r.now = r.now.Add(s.later)
		cs := handshake(t, s.server(), client)
		if cs.DidResume != s.resume {
			t.Errorf("%s: resumed %v, want %v", s.name, cs.DidResume, s.resume)
		}
		// Resumed or not, the server knows the client certificate, which
		// the API checks against the registry on every request.
		if len(cs.PeerCertificates) != 1 || !cs.PeerCertificates[0].Equal(r.client.Leaf) || len(cs.VerifiedChains) == 0 {
			t.Errorf("%s: server sees %d peer certificates, %d verified chains; want the device's certificate, verified",
				s.name, len(cs.PeerCertificates), len(cs.VerifiedChains))
		}
	}
}

func TestSessionTicketSize(t *testing.T) {
	t.Parallel()
	r := newTicketRig(t, t.TempDir())
	var ticket, state []byte
	cfg := r.server()
	wrap := cfg.WrapSession
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		var err error
		if state, err = ss.Bytes(); err != nil {
			return nil, err
		}
		ticket, err = wrap(cs, ss)
		return ticket, err
	}
	client := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: r.ca.Pool(), ServerName: "localhost",
		Certificates: []tls.Certificate{r.client}, ClientSessionCache: tls.NewLRUClientSessionCache(1),
		Time: func() time.Time { return r.now }}
	handshake(t, cfg, client)
	// The state holds the device certificate and the CA; the CA is the
	// dictionary, so the sealed ticket is well under the state's size.
	if len(state) == 0 || len(ticket) > len(state)*3/4 {
		t.Errorf("ticket %d B for a %d-B session state, want at most 3/4 of it", len(ticket), len(state))
	}
	t.Logf("session state %d B, ticket %d B", len(state), len(ticket))
}

func TestSessionTicketGarbage(t *testing.T) {
	t.Parallel()
	r := newTicketRig(t, t.TempDir())
	tk := newTickets(r.ca.Command, r.ca.Cert.Raw, func() time.Time { return r.now })
	day := dayOf(r.now)
	for _, b := range [][]byte{nil, {1, 2, 3}, append([]byte{byte(day >> 24), byte(day >> 16), byte(day >> 8), byte(day)}, make([]byte, 60)...)} {
		if ss, err := tk.unwrap(b, tls.ConnectionState{}); ss != nil || err != nil {
			t.Errorf("unwrap(%x) = %v, %v; want a full handshake (nil, nil)", b, ss, err)
		}
	}
}

// A pooled deflate writer is reset between tickets: each ticket opens to
// its own session state, whatever was sealed before it.
func TestSessionTicketsFromPooledWriters(t *testing.T) {
	t.Parallel()
	r := newTicketRig(t, t.TempDir())
	tk := newTickets(r.ca.Command, r.ca.Cert.Raw, func() time.Time { return r.now })
	var states []*tls.SessionState
	for range 2 {
		cfg := r.server()
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			states = append(states, ss)
			return tk.wrap(cs, ss)
		}
		client := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: r.ca.Pool(), ServerName: "localhost",
			Certificates: []tls.Certificate{r.client}, ClientSessionCache: tls.NewLRUClientSessionCache(1),
			Time: func() time.Time { return r.now }}
		handshake(t, cfg, client)
	}
	if len(states) != 2 {
		t.Fatalf("%d session states sealed in two handshakes, want 2", len(states))
	}
	for i := range 6 {
		ss := states[i%2]
		want, err := ss.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		ticket, err := tk.wrap(tls.ConnectionState{}, ss)
		if err != nil {
			t.Fatalf("wrap %d: %v", i, err)
		}
		got, err := tk.open(ticket)
		if err != nil {
			t.Fatalf("open ticket %d: %v", i, err)
		}
		gb, err := got.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, want) {
			t.Errorf("ticket %d opened to a different session state (%d B, want %d B)", i, len(gb), len(want))
		}
	}
}
