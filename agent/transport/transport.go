// Package transport carries the agent's requests to the collector: HTTP/3
// over QUIC first and HTTPS over TCP when QUIC does not get through (UDP
// blocked, a middlebox dropping it), with retries and capped exponential
// backoff on network errors and 5xx answers but never on 4xx. In auto mode
// it remembers which transport worked, so an agent behind a UDP-blocking
// firewall does not pay the QUIC timeout on every report, and tries HTTP/3
// again after a while. Given several collectors of one deployment it fails
// over between them (failover.go). TLS trust (a pinned CA fingerprint or
// the CA file) and the client certificate come in through the tls.Config.
package transport

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/shared/wire"
)

// Modes.
const (
	ModeAuto  = "auto"
	ModeHTTP3 = "http3"
	ModeHTTPS = "https"
)

// Names of the transport that carried a request, as printed in results.
const (
	UsedH3    = "h3"
	UsedHTTPS = "https"
)

// maxResponse bounds a collector answer; acks and certificates are small.
const maxResponse = 4 << 20

// Memory keeps which transport worked between runs; *state.Dir is one.
type Memory interface {
	LastTransport() (state.TransportChoice, error)
	RememberTransport(state.TransportChoice) error
}

// Options configure a Client. Zero durations and counts take the defaults
// noted.
type Options struct {
	// BaseURL is the collector, https://host:port.
	BaseURL string
	// BaseURLs are several collectors of one deployment (one CA, one
	// store) in order of preference; when set, BaseURL is ignored and the
	// client fails over between them (failover.go).
	BaseURLs []string
	// FailoverTimeout bounds the time one of several collectors gets,
	// retries included, before the next is tried (default 10s); the last
	// one tried gets the full retries and no such bound.
	FailoverTimeout time.Duration
	// FailbackInterval is how long the client stays with a collector other
	// than the first before it tries the first again (default 1h).
	FailbackInterval time.Duration
	// Collectors remembers the collector in use; nil remembers nothing.
	Collectors CollectorMemory
	// TLS carries trust and the client certificate; it is cloned.
	TLS *tls.Config
	// Mode is ModeAuto (default), ModeHTTP3 or ModeHTTPS.
	Mode string
	// QUICTimeout bounds the QUIC handshake (default 3s).
	QUICTimeout time.Duration
	// HTTP3RetryInterval is how long auto sticks to HTTPS after HTTP/3
	// failed (default 24h).
	HTTP3RetryInterval time.Duration
	// RequestTimeout bounds one attempt (default 60s).
	RequestTimeout time.Duration
	// RetryMax retries after the first attempt (default 0: none).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff (default 1s, 30s).
	RetryWaitMin, RetryWaitMax time.Duration
	// Memory remembers the working transport; nil remembers nothing.
	Memory Memory
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Client sends requests to a collector, failing over between several.
type Client struct {
	opt  Options
	h3   *http3.Transport
	tcp  *http.Transport
	full retriers // the only or last collector tried
	// brief is for a collector with another one behind it: at most one
	// retry, at the shortest wait, so failing over takes seconds.
	brief retriers

	// quic is the UDP socket HTTP/3 dials from, opened on first use.
	quicMu sync.Mutex
	quic   *quic.Transport

	urls []string
	mu   sync.Mutex
	cur  int       // index into urls of the collector in use
	away time.Time // when the client left urls[0] or last tried it in vain
}

// retriers are the retrying clients of one retry budget.
type retriers struct {
	h3  *retryablehttp.Client // retries 5xx only: network errors fall back
	h3a *retryablehttp.Client // ModeHTTP3: retries network errors too
	tcp *retryablehttp.Client
}

// New builds a Client; it opens no connection yet.
func New(opt Options) (*Client, error) {
	if opt.TLS == nil {
		return nil, errors.New("transport: no TLS configuration")
	}
	if opt.Mode == "" {
		opt.Mode = ModeAuto
	}
	switch opt.Mode {
	case ModeAuto, ModeHTTP3, ModeHTTPS:
	default:
		return nil, fmt.Errorf("transport: unknown mode %q (want auto, http3 or https)", opt.Mode)
	}
	if opt.QUICTimeout <= 0 {
		opt.QUICTimeout = 3 * time.Second
	}
	if opt.HTTP3RetryInterval <= 0 {
		opt.HTTP3RetryInterval = 24 * time.Hour
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 60 * time.Second
	}
	if opt.RetryWaitMin <= 0 {
		opt.RetryWaitMin = time.Second
	}
	if opt.RetryWaitMax < opt.RetryWaitMin {
		opt.RetryWaitMax = max(30*time.Second, opt.RetryWaitMin)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.FailoverTimeout <= 0 {
		opt.FailoverTimeout = 10 * time.Second
	}
	if opt.FailbackInterval <= 0 {
		opt.FailbackInterval = time.Hour
	}
	urls := []string{opt.BaseURL}
	if len(opt.BaseURLs) > 0 {
		urls = make([]string, len(opt.BaseURLs))
		for i, u := range opt.BaseURLs {
			urls[i] = strings.TrimRight(u, "/")
		}
	}
	opt.BaseURLs, opt.BaseURL = urls, urls[0]
	// Resume TLS sessions: a heartbeat every 5 minutes outlives idle
	// connections, and a full TLS 1.3 handshake with both certificate
	// chains is ~5.5 KB against a ~370 B heartbeat. Resumption skips the
	// certificates (the collector still checks the client certificate,
	// carried in the session, for revocation on every request) and the
	// post-quantum key share (resume.go). HTTPS and HTTP/3 keep their
	// sessions apart: each resumes the session it made.
	opt.TLS = opt.TLS.Clone()
	tcpTLS, h3TLS := opt.TLS.Clone(), opt.TLS.Clone()
	// HTTPS speaks HTTP/1.1: an agent sends one request at a time, so
	// HTTP/2's streams buy nothing, while its connection preface and
	// SETTINGS cost ~150 B on each new connection (a heartbeat every 5
	// minutes on a resumed session: 2,255 -> 2,100 B, scripts/bench-wire.sh)
	// and its framing goroutines cost the collector ~10-15 % of a delta's
	// CPU (docs/fleet.md, "HTTP/1.1 for agents").
	tcpTLS.NextProtos = []string{"http/1.1"}
	if opt.TLS.ClientSessionCache == nil {
		tcpTLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		h3TLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}

	c := &Client{opt: opt, urls: urls}
	c.restore()
	c.h3 = &http3.Transport{
		TLSClientConfig: h3TLS,
		QUICConfig: &quic.Config{
			HandshakeIdleTimeout: opt.QUICTimeout,
			MaxIdleTimeout:       opt.RequestTimeout,
			// Path MTU discovery probes each new connection with packets
			// of up to 1.4 KB, ~6 KB both ways: more than a heartbeat,
			// for a larger packet size that small requests do not need.
			DisablePathMTUDiscovery: true,
		},
		Dial:   c.dialQUIC,
		Logger: opt.Logger,
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	c.tcp = &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, dialer, network, addr, tcpTLS)
		},
		TLSClientConfig:     tcpTLS,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConns:        4,
	}
	c.full = c.retriers(opt.RetryMax, opt.RetryWaitMax)
	c.brief = c.retriers(min(opt.RetryMax, 1), opt.RetryWaitMin)
	return c, nil
}

func (c *Client) retriers(retryMax int, waitMax time.Duration) retriers {
	return retriers{
		h3:  c.retrying(c.h3, false, retryMax, waitMax),
		h3a: c.retrying(c.h3, true, retryMax, waitMax),
		tcp: c.retrying(c.tcp, true, retryMax, waitMax),
	}
}

func (c *Client) retrying(rt http.RoundTripper, retryNetwork bool, retryMax int, waitMax time.Duration) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: rt, Timeout: c.opt.RequestTimeout},
		Logger:       leveled{c.opt.Logger},
		RetryWaitMin: c.opt.RetryWaitMin,
		RetryWaitMax: waitMax,
		RetryMax:     retryMax,
		CheckRetry:   retryPolicy(retryNetwork),
		Backoff:      retryablehttp.DefaultBackoff,
		// Hand back the last answer (a final 503 with its JSON error) or
		// the last error instead of a generic "giving up".
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// retryPolicy retries 429 and 5xx (not 501), and network errors when
// retryNetwork; never a 4xx, a cancelled context or a failed certificate
// check, which no retry can fix.
func retryPolicy(retryNetwork bool) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			if Permanent(err) {
				return false, err
			}
			return retryNetwork, nil
		}
		if resp.StatusCode == http.StatusTooManyRequests ||
			(resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented) {
			return true, nil
		}
		return false, nil
	}
}

// Permanent reports whether err is a TLS trust failure on either side:
// the server failed the pin or CA check, or it refused our certificate.
func Permanent(err error) bool {
	var pinErr *PinError
	var verifyErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	return errors.As(err, &pinErr) || errors.As(err, &verifyErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &alert)
}

// leveled adapts slog to retryablehttp's logger at debug level: the
// library's per-attempt messages are detail, the outcome is logged (or
// returned) by the caller.
type leveled struct{ l *slog.Logger }

func (l leveled) Error(msg string, kv ...any) { l.l.Debug(msg, kv...) }
func (l leveled) Info(msg string, kv ...any)  { l.l.Debug(msg, kv...) }
func (l leveled) Debug(msg string, kv ...any) { l.l.Debug(msg, kv...) }
func (l leveled) Warn(msg string, kv ...any)  { l.l.Debug(msg, kv...) }

// CloseIdleConnections closes the connections no request is using, as
// both sides' idle timeouts do between check-ins.
func (c *Client) CloseIdleConnections() {
	c.tcp.CloseIdleConnections()
	c.h3.CloseIdleConnections()
}

// Close releases connections and the QUIC socket.
func (c *Client) Close() error {
	c.tcp.CloseIdleConnections()
	err := c.h3.Close()
	c.quicMu.Lock()
	defer c.quicMu.Unlock()
	if c.quic != nil {
		err = errors.Join(err, c.quic.Close(), c.quic.Conn.Close())
		c.quic = nil
	}
	return err
}

// Request is one call.
type Request struct {
	Method string
	// Path is appended to the base URL ("/api/v1/agent/report").
	Path   string
	Header http.Header
	Body   []byte
	// Small marks a request of a few hundred bytes sent every few
	// minutes on a new connection (a heartbeat). In auto mode it goes over
	// HTTPS, and over HTTP/3 only when HTTPS fails: a new QUIC connection
	// pads its handshake to three datagrams of at least 1,200 B, so a
	// resumed one costs ~4.8 KB against ~2.2 KB for resumed TLS over TCP
	// (docs/agent.md, bytes on the wire). The transport choice is neither
	// consulted nor remembered.
	Small bool
}

// Response is the collector's answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Transport is UsedH3 or UsedHTTPS.
	Transport string
	// Collector is the base URL of the collector that answered.
	Collector string
}

// at sends r to the collector at base, retrying with rs and falling back
// from HTTP/3 to HTTPS as the mode says. An HTTP answer of any status is a
// Response; only a failure to get one is an error.
func (c *Client) at(ctx context.Context, base string, rs retriers, r Request) (*Response, error) {
	switch c.opt.Mode {
	case ModeHTTPS:
		return c.send(ctx, rs.tcp, base, r, UsedHTTPS)
	case ModeHTTP3:
		return c.send(ctx, rs.h3a, base, r, UsedH3)
	}
	if r.Small {
		resp, err := c.send(ctx, rs.tcp, base, r, UsedHTTPS)
		if err == nil || ctx.Err() != nil || Permanent(err) {
			return resp, err
		}
		c.opt.Logger.Info("HTTPS failed, trying HTTP/3", "collector", base, "err", err)
		resp, h3err := c.send(ctx, rs.h3, base, r, UsedH3)
		if h3err != nil {
			return nil, fmt.Errorf("%w (HTTPS before it: %v)", h3err, err)
		}
		return resp, nil
	}
	last, err := c.last()
	if err != nil {
		c.opt.Logger.Warn("read transport choice", "err", err)
	}
	now := c.opt.Now()
	if last.Transport == UsedHTTPS && now.Sub(last.At) < c.opt.HTTP3RetryInterval {
		return c.send(ctx, rs.tcp, base, r, UsedHTTPS)
	}
	resp, h3err := c.send(ctx, rs.h3, base, r, UsedH3)
	if h3err == nil {
		if last.Transport != UsedH3 {
			c.remember(UsedH3, now)
		}
		return resp, nil
	}
	if ctx.Err() != nil {
		return nil, h3err
	}
	c.opt.Logger.Info("HTTP/3 failed, falling back to HTTPS", "collector", base, "err", h3err)
	resp, err = c.send(ctx, rs.tcp, base, r, UsedHTTPS)
	if err != nil {
		return nil, fmt.Errorf("%w (HTTP/3 before it: %v)", err, h3err)
	}
	c.remember(UsedHTTPS, now)
	return resp, nil
}

func (c *Client) remember(used string, at time.Time) {
	if c.opt.Memory == nil {
		return
	}
	if err := c.opt.Memory.RememberTransport(state.TransportChoice{Transport: used, At: at.UTC()}); err != nil {
		c.opt.Logger.Warn("remember transport", "err", err)
	}
}

func (c *Client) last() (state.TransportChoice, error) {
	if c.opt.Memory == nil {
		return state.TransportChoice{}, nil
	}
	return c.opt.Memory.LastTransport()
}

func (c *Client) send(ctx context.Context, rc *retryablehttp.Client, base string, r Request, used string) (*Response, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, r.Method, base+r.Path, r.Body)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", r.Path, err)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := rc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s: %w", r.Method, r.Path, used, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read answer to %s over %s: %w", r.Path, used, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("read answer to %s over %s: larger than %d bytes", r.Path, used, maxResponse)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, Transport: used, Collector: base}, nil
}

// HTTPError is a non-2xx answer, with the collector's error code and
// message when the body was the documented JSON error.
type HTTPError struct {
	Status  int
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("collector answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Revoked reports whether the collector refused the agent's identity (401
// or 403): the certificate is unknown, expired or revoked.
func (e *HTTPError) Revoked() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// PostJSON marshals in, gzip-compressing it when gz, posts it to path and
// decodes a 2xx JSON answer into out. A non-2xx answer is an *HTTPError.
// It returns the transport that carried the call.
func (c *Client) PostJSON(ctx context.Context, path string, in any, gz bool, out any) (string, error) {
	return c.postJSON(ctx, path, in, gz, false, out)
}

// PostSmallJSON is PostJSON for a Small request, uncompressed.
func (c *Client) PostSmallJSON(ctx context.Context, path string, in, out any) (string, error) {
	return c.postJSON(ctx, path, in, false, true, out)
}

func (c *Client) postJSON(ctx context.Context, path string, in any, gz, small bool, out any) (string, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("encode %s body: %w", path, err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return "", fmt.Errorf("compress %s body: %w", path, err)
		}
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("compress %s body: %w", path, err)
		}
		body = buf.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: path, Header: h, Body: body, Small: small})
	if err != nil {
		return "", err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Transport, decodeError(resp)
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return resp.Transport, fmt.Errorf("decode answer to %s: %w", path, err)
	}
	return resp.Transport, nil
}

func decodeError(resp *Response) error {
	e := &HTTPError{Status: resp.StatusCode}
	var body wire.ErrorBody
	if json.Unmarshal(resp.Body, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else if s := strings.TrimSpace(string(resp.Body)); s != "" && len(s) < 200 {
		e.Message = s
	}
	return e
}
