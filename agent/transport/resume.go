package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// An agent checks in every five minutes, and every check-in is a new
// connection: both sides drop idle connections sooner (the collector after
// two minutes, so that 100,000 devices do not hold 100,000 connections).
// What such a connection costs is mostly the TLS handshake, and its largest
// part is the post-quantum key share (X25519MLKEM768, 1,216 B up and
// 1,120 B down) that crypto/tls offers by default.
//
// A handshake that resumes a session therefore offers X25519 alone. Its
// keys come from the resumed secret, established by a full handshake that
// did use X25519MLKEM768, mixed with a fresh X25519 exchange (psk_dhe_ke),
// so a passive attacker who records the traffic and later has a quantum
// computer must also have the collector's ticket key to read it; TLS 1.3
// only, certificate checks on both sides and no 0-RTT are unchanged. A
// client holding no session (first contact, after a restart, a new
// collector) makes the full handshake with the default hybrid key share.

// forHandshake is cfg, or a copy offering X25519 alone when cfg's session
// cache holds a session for serverName.
func forHandshake(cfg *tls.Config, serverName string) *tls.Config {
	if cfg.ClientSessionCache == nil || len(cfg.CurvePreferences) > 0 {
		return cfg
	}
	if _, ok := cfg.ClientSessionCache.Get(serverName); !ok {
		return cfg
	}
	out := cfg.Clone()
	out.CurvePreferences = []tls.CurveID{tls.X25519}
	return out
}

// dialTLS is the HTTPS transport's TLS dial: TCP, then the handshake with
// the key share forHandshake picks. ServerName defaults to addr's host, as
// net/http does, which is also the session cache's key.
func dialTLS(ctx context.Context, d *net.Dialer, network, addr string, cfg *tls.Config) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, forHandshake(cfg, cfg.ServerName))
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// dialQUIC is the HTTP/3 transport's dial (http3.Transport.Dial): one UDP
// socket for every connection, as http3 keeps by default, and the key
// share forHandshake picks. No 0-RTT: early data can be replayed.
func (c *Client) dialQUIC(ctx context.Context, addr string, cfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	tr, err := c.quicTransport()
	if err != nil {
		return nil, err
	}
	return tr.Dial(ctx, udpAddr, forHandshake(cfg, cfg.ServerName), qc)
}

func (c *Client) quicTransport() (*quic.Transport, error) {
	c.quicMu.Lock()
	defer c.quicMu.Unlock()
	if c.quic == nil {
		pc, err := net.ListenUDP("udp", nil)
		if err != nil {
			return nil, fmt.Errorf("open UDP socket for HTTP/3: %w", err)
		}
		c.quic = &quic.Transport{Conn: pc}
	}
	return c.quic, nil
}
