package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/server"
	"github.com/rosterhq/roster/shared/wire"
)

// idle is how long the relay lets a TCP connection sit unused before it
// closes it, and the client's QUIC idle timeout: standing in for the idle
// timeouts a 5-minute gap between heartbeats outlasts.
const idle = 300 * time.Millisecond

// reportExtra is what an unchanged hourly report adds over the heartbeat
// it replaces: the empty delta's gzipped body and its larger answer
// (scripts/bench-agent.sh measures it).
const reportExtra = 300

type result struct {
	beats   []int64 // bytes per heartbeat, both ways
	resumed int     // heartbeats after the first the collector saw resumed
}

// collector is the real API on a real listener, with a hook that records
// whether each agent request came on a resumed TLS session.
type collector struct {
	reg  *registry.Registry
	ca   *pki.CA
	srv  *server.Server
	done chan error
	stop context.CancelFunc

	mu      sync.Mutex
	resumed []bool
}

// startCollector opens (or reopens) the collector whose data is in dir on
// addr ("127.0.0.1:0" for any port).
func startCollector(ctx context.Context, dir, addr string) (*collector, error) {
	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dir, "roster.db")}, nil)
	if err != nil {
		return nil, err
	}
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		reg.Close()
		return nil, err
	}
	c := &collector{reg: reg, ca: ca, done: make(chan error, 1)}
	h := api.New(api.Options{Registry: reg, CA: ca, Metrics: metrics.New(), Now: time.Now})
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && strings.HasPrefix(r.URL.Path, "/api/v1/agent/") {
			c.mu.Lock()
			c.resumed = append(c.resumed, r.TLS.DidResume)
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	c.srv, err = server.Listen(sctx, server.Options{Addr: addr, TLSConfig: ca.ServerTLS([]string{"h2", "http/1.1"}), Handler: hook, HTTP3: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		stop()
		reg.Close()
		return nil, err
	}
	go func() { c.done <- c.srv.Serve(sctx) }()
	return c, nil
}

// Resumed is, per agent request so far, whether its session was resumed.
func (c *collector) Resumed() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.resumed...)
}

// Close stops serving and closes the store.
func (c *collector) Close() error {
	c.stop()
	err := <-c.done
	return errors.Join(err, c.reg.Close())
}

// enrol enrols a device in stateDir with the agent's own enrolment and
// returns its TLS configuration.
func enrol(ctx context.Context, c *collector, stateDir, serial string) (*enroll.Credentials, error) {
	_, secret, err := c.reg.CreateSecret(ctx, "wirebytes", time.Hour, 1, time.Now())
	if err != nil {
		return nil, err
	}
	dir, err := state.Open(stateDir)
	if err != nil {
		return nil, err
	}
	_, err = enroll.Enroll(ctx, dir, enroll.Request{
		Collector: "https://" + c.srv.Addr(), Secret: secret,
		Trust:        enroll.Trust{Fingerprint: c.ca.Fingerprint()},
		Identity:     wire.Identity{Platform: "linux", SystemSerial: serial},
		AgentVersion: "wirebytes", Transport: transport.Options{Mode: transport.ModeHTTPS},
	})
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	return enroll.Load(dir)
}

// newClient is the agent's transport to base in mode; the QUIC idle
// timeout (RequestTimeout) is short so an HTTP/3 connection is gone
// between two heartbeats, as it is 5 minutes apart.
func newClient(base, mode string, creds *enroll.Credentials) (*transport.Client, error) {
	return transport.New(transport.Options{BaseURL: base, TLS: creds.TLS, Mode: mode, RequestTimeout: 2 * idle})
}

// smallPoster is the transport's call for heartbeats since issue 17; the
// build before it sent them with PostJSON.
type smallPoster interface {
	PostSmallJSON(ctx context.Context, path string, in, out any) (string, error)
}

// heartbeat sends one heartbeat as checkin.Sender of the build does.
func heartbeat(ctx context.Context, cl *transport.Client) (wire.HeartbeatAck, error) {
	hb := wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "0.17.0", LastSeq: 1234,
		LastHash: "sha256:" + strings.Repeat("5e", 32)}
	var ack wire.HeartbeatAck
	var err error
	if sp, ok := any(cl).(smallPoster); ok {
		_, err = sp.PostSmallJSON(ctx, "/api/v1/agent/heartbeat", hb, &ack)
	} else {
		_, err = cl.PostJSON(ctx, "/api/v1/agent/heartbeat", hb, false, &ack)
	}
	return ack, err
}

// measure enrols a device and sends n heartbeats through the relay, each
// after the previous connection idled out.
func measure(ctx context.Context, dir, mode string, n int, gap time.Duration) (result, error) {
	c, err := startCollector(ctx, dir, "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	creds, err := enrol(ctx, c, filepath.Join(dir, "agent"), "WIRE-0001")
	if err != nil {
		return result{}, err
	}
	rl, err := startRelay(c.srv.Addr())
	if err != nil {
		return result{}, err
	}
	defer rl.Close()
	cl, err := newClient("https://"+rl.Addr(), mode, creds)
	if err != nil {
		return result{}, err
	}
	defer cl.Close()
	var res result
	seen := len(c.Resumed())
	for i := range n {
		before := rl.Total()
		ack, err := heartbeat(ctx, cl)
		if err != nil {
			return res, fmt.Errorf("heartbeat %d: %w", i+1, err)
		}
		if ack.Status == "" {
			return res, fmt.Errorf("heartbeat %d: answered with no status", i+1)
		}
		select {
		case <-time.After(gap):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		res.beats = append(res.beats, rl.Total()-before)
	}
	for _, r := range c.Resumed()[seen+1:] {
		if r {
			res.resumed++
		}
	}
	return res, nil
}

// relay forwards 127.0.0.1:port to target over TCP and UDP and counts the
// payload both ways; a TCP connection idle for idle is closed.
type relay struct {
	ln     net.Listener
	pc     *net.UDPConn
	target string
	bytes  atomic.Int64
	wg     sync.WaitGroup
}

func startRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		ln.Close()
		return nil, err
	}
	r := &relay{ln: ln, pc: pc, target: target}
	r.wg.Add(2)
	go r.acceptTCP()
	go r.relayUDP()
	return r, nil
}

// Addr is the relay's address, the same port for TCP and UDP.
func (r *relay) Addr() string { return r.ln.Addr().String() }

// Total is every payload byte relayed so far, both ways.
func (r *relay) Total() int64 { return r.bytes.Load() }

// Close stops relaying.
func (r *relay) Close() error {
	err := errors.Join(r.ln.Close(), r.pc.Close())
	r.wg.Wait()
	return err
}

func (r *relay) acceptTCP() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.pipeTCP(c)
	}
}

func (r *relay) pipeTCP(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	copyCount := func(dst, src net.Conn) {
		b := make([]byte, 32<<10)
		for {
			k, err := src.Read(b)
			if k > 0 {
				r.bytes.Add(int64(k))
				last.Store(time.Now().UnixNano())
				if _, err := dst.Write(b[:k]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	done := make(chan struct{}, 2)
	go func() { copyCount(up, c); done <- struct{}{} }()
	go func() { copyCount(c, up); done <- struct{}{} }()
	tick := time.NewTicker(idle / 4)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) >= idle {
				return // the deferred closes end both copies
			}
		}
	}
}

func (r *relay) relayUDP() {
	defer r.wg.Done()
	target, err := net.ResolveUDPAddr("udp", r.target)
	if err != nil {
		return
	}
	peers := map[string]*net.UDPConn{}
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	b := make([]byte, 64<<10)
	for {
		n, from, err := r.pc.ReadFromUDP(b)
		if err != nil {
			return
		}
		up, ok := peers[from.String()]
		if !ok {
			if up, err = net.DialUDP("udp", nil, target); err != nil {
				continue
			}
			peers[from.String()] = up
			go func() {
				rb := make([]byte, 64<<10)
				for {
					k, err := up.Read(rb)
					if err != nil {
						return
					}
					r.bytes.Add(int64(k))
					if _, err := r.pc.WriteToUDP(rb[:k], from); err != nil {
						return
					}
				}
			}()
		}
		r.bytes.Add(int64(n))
		_, _ = up.Write(b[:n])
	}
}
