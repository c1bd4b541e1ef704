package ctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// maxResponseBytes bounds what rosterctl reads from one response; a page of
// 1000 devices is far below it.
const maxResponseBytes = 64 << 20

// requestTimeout bounds one API call.
const requestTimeout = 60 * time.Second

// client speaks docs/api.md with a bearer token.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// APIError is a non-2xx answer from the collector.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return fmt.Sprintf("authentication failed: %s (%s, HTTP %d)", e.Message, e.Code, e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

func newClient(s Settings) (*client, error) {
	u, err := url.Parse(strings.TrimRight(s.URL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, usageErrorf("collector URL %q is not an https:// URL", s.URL)
	}
	tlsConf, err := trustConfig(s, u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	return &client{base: u, token: s.Token, http: &http.Client{Transport: tr, Timeout: requestTimeout}}, nil
}

// trustConfig trusts the CA file, or the CA whose fingerprint is pinned, or
// else the system roots (a collector behind a proxy with a public
// certificate).
func trustConfig(s Settings, host string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS13}
	switch {
	case s.CA != "":
		pemBytes, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", s.CA)
		}
		conf.RootCAs = pool
	case s.CAFingerprint != "":
		want, err := normaliseFingerprint(s.CAFingerprint)
		if err != nil {
			return nil, err
		}
		// Verification is done by hand below: the chain must contain the
		// pinned CA and the server certificate must verify against it for
		// host, exactly as with a CA file.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, want, host)
		}
	}
	return conf, nil
}

func verifyPinned(chain []*x509.Certificate, want, host string) error {
	if len(chain) == 0 {
		return errors.New("collector sent no certificate")
	}
	for _, c := range chain {
		if fingerprint(c.Raw) != want {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(c)
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
			return fmt.Errorf("verify collector certificate against pinned CA: %w", err)
		}
		return nil
	}
	return fmt.Errorf("collector CA does not match the pinned fingerprint %s", want)
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// normaliseFingerprint accepts "sha256:<hex>", bare hex, and hex with
// colons, in either case.
func normaliseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", usageErrorf("CA fingerprint %q is not sha256:<64 hex digits>", s)
	}
	return "sha256:" + h, nil
}

// do sends one request with a JSON body (or none) and returns the body of
// a 2xx answer; any other answer becomes an *APIError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var b []byte
	ct := ""
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		ct = "application/json"
	}
	status, data, err := c.send(ctx, method, path, query, ct, b)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, apiError(status, data)
	}
	return data, nil
}

// send sends one request with a body of contentType ("" for none) and
// returns the answer's status and body, whatever the status.
func (c *client) send(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) (int, []byte, error) {
	req, err := c.request(ctx, method, path, query, contentType, body)
	if err != nil {
		return 0, nil, err
	}
	u := req.URL
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read response: %w", method, u.Path, err)
	}
	if len(data) > maxResponseBytes {
		return 0, nil, fmt.Errorf("%s %s: response larger than %d bytes", method, u.Path, maxResponseBytes)
	}
	return resp.StatusCode, data, nil
}

func apiError(status int, body []byte) *APIError {
	var eb wire.ErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error.Message != "" {
		return &APIError{Status: status, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	// Not the API's error shape (a proxy in between, say): show its start.
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Message: msg}
}

// page is one answer of a list endpoint.
type page struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// list fetches one page, or with all every page; raw is the single page's
// body as the API sent it (nil with all).
func (c *client) list(ctx context.Context, path string, query url.Values, all bool) (items []json.RawMessage, next string, raw []byte, err error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for {
		body, err := c.do(ctx, http.MethodGet, path, q, nil)
		if err != nil {
			return nil, "", nil, err
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, "", nil, fmt.Errorf("decode %s: %w", path, err)
		}
		items = append(items, p.Items...)
		if !all {
			return items, p.NextCursor, body, nil
		}
		if p.NextCursor == "" {
			return items, "", nil, nil
		}
		if p.NextCursor == q.Get("cursor") {
			return nil, "", nil, fmt.Errorf("list %s: the collector returned the same cursor twice", path)
		}
		q.Set("cursor", p.NextCursor)
	}
}

// request builds an authenticated request to the API with a body of
// contentType ("" for none).
func (c *client) request(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if contentType != "" {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}
