// Package server runs the collector's one port: HTTPS (HTTP/1.1 and HTTP/2)
// on a TCP listener and HTTP/3 on a UDP listener bound to the same port
// number, both TLS 1.3 only, every response advertising h3 with Alt-Svc.
// Listening and serving are separate steps so a caller (and a test asking
// for port 0) learns the real address before the first request arrives.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Timeouts. Reports are at most a few MiB, so two minutes to read one is
// generous even on a slow link, while a client that never finishes its
// headers is cut off quickly.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	WriteTimeout      = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
	// ShutdownTimeout is how long in-flight requests get after the context
	// is cancelled before connections are closed.
	ShutdownTimeout = 15 * time.Second
)

// Options configure Listen.
type Options struct {
	// Addr is host:port; port 0 picks a free port (the same for TCP and UDP).
	Addr string
	// TLSConfig must be TLS 1.3 only, e.g. pki.CA.ServerTLS. It is cloned.
	TLSConfig *tls.Config
	Handler   http.Handler
	// HTTP3 serves HTTP/3 on UDP and advertises it with Alt-Svc.
	HTTP3  bool
	Logger *slog.Logger
}

// Server holds both listeners until Serve hands them to their servers.
type Server struct {
	tcp    net.Listener
	udp    net.PacketConn
	http   *http.Server
	h3     *http3.Server
	logger *slog.Logger
}

// bindAttempts bounds the retries when port 0 gave a TCP port whose UDP twin
// is taken by someone else.
const bindAttempts = 10

// Listen binds the TCP listener and, with HTTP3, the UDP socket on the same
// port.
func Listen(ctx context.Context, opts Options) (*Server, error) {
	if opts.TLSConfig == nil || opts.Handler == nil {
		return nil, errors.New("listen: TLS config and handler are required")
	}
	if opts.TLSConfig.MinVersion < tls.VersionTLS13 {
		return nil, errors.New("listen: TLS config must require TLS 1.3")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %q: %w", opts.Addr, err)
	}
	var lc net.ListenConfig
	var tcp net.Listener
	var udp net.PacketConn
	for attempt := 0; ; attempt++ {
		tcp, err = lc.Listen(ctx, "tcp", opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on tcp %s: %w", opts.Addr, err)
		}
		if !opts.HTTP3 {
			break
		}
		_, tcpPort, _ := net.SplitHostPort(tcp.Addr().String())
		udp, err = lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, tcpPort))
		if err == nil {
			break
		}
		tcp.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt+1 >= bindAttempts {
			return nil, fmt.Errorf("listen on udp %s: %w", net.JoinHostPort(host, tcpPort), err)
		}
	}

	s := &Server{tcp: tcp, udp: udp, logger: logger}
	handler := opts.Handler
	if opts.HTTP3 {
		// Set Alt-Svc ourselves instead of with http3.Server.SetQUICHeaders:
		// that one errors until Serve has registered the UDP listener, and
		// the TCP side may answer a request before then.
		altSvc := fmt.Sprintf(`%s=":%d"; ma=86400`, http3.NextProtoH3, s.Port())
		inner := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Alt-Svc", altSvc)
			inner.ServeHTTP(w, r)
		})
		s.h3 = &http3.Server{
			TLSConfig:      opts.TLSConfig.Clone(),
			Handler:        handler,
			Port:           s.Port(),
			MaxHeaderBytes: MaxHeaderBytes,
			IdleTimeout:    IdleTimeout,
			// No 0-RTT: early data can be replayed by an attacker, and
			// enrolment must not be. No path MTU discovery: its probes
			// cost each new connection ~5 KB, several times what an
			// agent's check-in carries, and what agents send fits the
			// initial packet size well enough.
			QUICConfig: &quic.Config{Allow0RTT: false, MaxIdleTimeout: IdleTimeout, DisablePathMTUDiscovery: true},
			Logger:     logger.With("proto", "h3"),
		}
	}
	tlsConf := opts.TLSConfig.Clone()
	if len(tlsConf.NextProtos) == 0 {
		tlsConf.NextProtos = []string{"h2", "http/1.1"}
	}
	s.http = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		// Failed TLS handshakes (scanners, TLS 1.2 clients) are not worth
		// more than debug.
		ErrorLog: slog.NewLogLogger(logger.With("proto", "https").Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context {
			return context.WithoutCancel(ctx)
		},
	}
	return s, nil
}

// Addr is the bound TCP (and UDP) address, e.g. "127.0.0.1:43117".
func (s *Server) Addr() string { return s.tcp.Addr().String() }

// Port is the bound port number.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.tcp.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

// HTTP3 reports whether the UDP listener is bound.
func (s *Server) HTTP3() bool { return s.udp != nil }

// Serve serves until ctx is cancelled, then shuts both servers down
// gracefully (in-flight requests get ShutdownTimeout). It returns nil after
// a clean shutdown, or the first error that stopped a listener.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		if err := s.http.ServeTLS(s.tcp, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve https: %w", err)
			cancel()
		}
	})
	if s.h3 != nil {
		wg.Go(func() {
			if err := s.h3.Serve(s.udp); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && ctx.Err() == nil {
				errc <- fmt.Errorf("serve http/3: %w", err)
				cancel()
			}
		})
	}
	<-ctx.Done()

	shutCtx, shutCancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer shutCancel()
	var shut sync.WaitGroup
	shut.Go(func() {
		if err := s.http.Shutdown(shutCtx); err != nil {
			s.logger.Warn("https shutdown", "err", err)
			s.http.Close()
		}
	})
	if s.h3 != nil {
		shut.Go(func() {
			if err := s.h3.Shutdown(shutCtx); err != nil {
				s.logger.Warn("http/3 shutdown", "err", err)
			}
			// http3.Server.Serve does not close a socket it was given.
			s.udp.Close()
		})
	}
	shut.Wait()
	wg.Wait()
	close(errc)
	return <-errc
}

// Close releases the listeners of a Server that was never served.
func (s *Server) Close() error {
	err := s.tcp.Close()
	if s.udp != nil {
		err = errors.Join(err, s.udp.Close())
	}
	return err
}
