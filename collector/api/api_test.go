package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/metrics"
	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// Small limits so oversized bodies stay cheap to build; real snapshots fit.
const (
	testMaxCompressed   = 256 << 10
	testMaxDecompressed = 1 << 20
)

// clock is the test's controllable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv     *httptest.Server
	reg     *registry.Registry
	ca      *pki.CA
	metrics *metrics.Metrics
	clock   *clock
	store   registry.StoreConfig
	token   string
}

// newFixture starts the API on httptest with TLS; opts adjust its Options.
func newFixture(t *testing.T, clientAuth tls.ClientAuthType, opts ...func(*api.Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	f := &fixture{store: testStore(t, dir), clock: &clock{t: time.Now().UTC()}, metrics: metrics.New()}
	var err error
	if f.reg, err = registry.OpenAndMigrate(ctx, f.store, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.reg.Close() })
	if f.ca, _, err = pki.LoadOrCreate(filepath.Join(dir, "pki"), []string{"127.0.0.1", "::1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, f.token, err = f.reg.CreateToken(ctx, registry.TokenInput{Principal: "test", Role: "admin"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	opt := api.Options{
		Registry: f.reg, CA: f.ca, Metrics: f.metrics, Now: f.clock.Now,
		MaxReportBytes: testMaxCompressed, MaxReportDecompressedBytes: testMaxDecompressed,
	}
	for _, o := range opts {
		o(&opt)
	}
	h := api.New(opt)
	f.srv = httptest.NewUnstartedServer(h)
	f.srv.TLS = f.ca.ServerTLS(nil)
	f.srv.TLS.ClientAuth = clientAuth
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) client(t *testing.T, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: f.ca.Pool(), MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type response struct {
	status int
	body   []byte
}

func (r response) errCode(t *testing.T) string {
	t.Helper()
	var eb wire.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if eb.Error.Message == "" {
		t.Errorf("error %q has no message", eb.Error.Code)
	}
	return eb.Error.Code
}

func (f *fixture) do(t *testing.T, c *http.Client, method, path string, body []byte, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, b}
}

// admin calls the read/admin API with the admin token.
func (f *fixture) admin(t *testing.T, method, path string, body any) response {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	return f.do(t, f.client(t, nil), method, path, b, map[string]string{"Authorization": "Bearer " + f.token, "Content-Type": "application/json"})
}

func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

type secretOut struct {
	ID        string     `json:"id"`
	Secret    string     `json:"secret"`
	Label     string     `json:"label"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
}

func (f *fixture) newSecret(t *testing.T, expiresIn string) secretOut {
	t.Helper()
	return decode[secretOut](t, f.admin(t, "POST", "/api/v1/secrets", map[string]any{"label": "site-A", "expires_in": expiresIn}), http.StatusCreated)
}

type agent struct {
	deviceID string
	cert     tls.Certificate
	client   *http.Client
}

func (f *fixture) enrollReq(t *testing.T, secret string, id wire.Identity) (wire.EnrollRequest, *ecdsa.PrivateKey) {
	csr, key := registrytest.CSR(t)
	return wire.EnrollRequest{Secret: secret, CSR: string(csr), Identity: id, AgentVersion: "test"}, key
}

func (f *fixture) enroll(t *testing.T, secret string, id wire.Identity) agent {
	t.Helper()
	req, key := f.enrollReq(t, secret, id)
	b, _ := json.Marshal(req)
	res := decode[wire.EnrollResponse](t, f.do(t, f.client(t, nil), "POST", "/api/v1/enroll", b, map[string]string{"Content-Type": "application/json"}), http.StatusCreated)
	if res.CA != string(f.ca.CertPEM) {
		t.Error("enrolment returned another CA")
	}
	c, err := pki.ParseCertificatePEM([]byte(res.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pki.DeviceID(c); got != res.DeviceID {
		t.Errorf("certificate names %q, want %q", got, res.DeviceID)
	}
	cert := tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
	return agent{deviceID: res.DeviceID, cert: cert, client: f.client(t, &cert)}
}

func gz(t testing.TB, b []byte, level int) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func fullReport(t testing.TB, s *wire.Snapshot, seq uint64) *wire.Report {
	return &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportFull, Seq: seq, Snapshot: s, Hash: registrytest.Hash(t, s)}
}

func marshal(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var reportHeaders = map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}

func (f *fixture) report(t *testing.T, a agent, rep *wire.Report) wire.Ack {
	t.Helper()
	return decode[wire.Ack](t, f.do(t, a.client, "POST", "/api/v1/agent/report", gz(t, marshal(t, rep), gzip.DefaultCompression), reportHeaders), http.StatusOK)
}

// counts is every table's row count and the secrets' uses, read from the
// database directly.
func (f *fixture) counts(t *testing.T) map[string]int {
	t.Helper()
	db := rawDB(t, f.store)
	out := map[string]int{}
	for _, q := range []string{"devices", "certificates", "enrol_secrets", "api_tokens", "software_catalogue", "device_software", "history", "reports_applied"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[q] = n
	}
	var uses, seq int
	db.QueryRow("SELECT coalesce(sum(uses), 0) FROM enrol_secrets").Scan(&uses)
	db.QueryRow("SELECT coalesce(sum(last_seq), 0) FROM devices").Scan(&seq)
	var revoked int
	db.QueryRow("SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL").Scan(&revoked)
	out["secret_uses"], out["last_seq_sum"], out["revoked_certs"] = uses, seq, revoked
	return out
}

func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	c := f.client(t, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := f.do(t, c, "GET", p, nil, nil); r.status != http.StatusOK {
			t.Errorf("%s: status %d, want 200", p, r.status)
		}
	}
	f.reg.Close()
	if r := f.do(t, c, "GET", "/readyz", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database closed: status %d, want 503", r.status)
	}
	if r := f.do(t, c, "GET", "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("healthz with the database closed: status %d, want 200", r.status)
	}
}

func TestEnrolAndReportFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "30d")
	a := f.enroll(t, sec.Secret, wire.IdentityOf(snap))

	ack := f.report(t, a, fullReport(t, snap, 1))
	if diff := cmp.Diff(wire.Ack{Status: wire.AckApplied, Seq: 1, Hash: registrytest.Hash(t, snap), DeviceID: a.deviceID, ProtocolVersion: wire.ProtocolVersion}, ack); diff != "" {
		t.Errorf("ack (-want +got):\n%s", diff)
	}
	if ack := f.report(t, a, fullReport(t, snap, 1)); ack.Status != wire.AckDuplicate {
		t.Errorf("second send of seq 1: %q, want duplicate", ack.Status)
	}
	next := registrytest.Clone(t, snap)
	next.CollectedAt = next.CollectedAt.Add(time.Hour)
	next.Software.Packages[0].Version += "+1"
	d, err := wire.Diff(snap, next)
	if err != nil {
		t.Fatal(err)
	}
	dr := &wire.Report{ProtocolVersion: 1, Kind: wire.ReportDelta, Seq: 2, BaseHash: ack.Hash, Delta: d, Hash: registrytest.Hash(t, next)}
	if ack := f.report(t, a, dr); ack.Status != wire.AckApplied {
		t.Errorf("delta: %+v, want applied", ack)
	}

	// Renewal over mTLS gives a certificate for the same device.
	csr, _ := registrytest.CSR(t)
	rr := decode[wire.RenewResponse](t, f.do(t, a.client, "POST", "/api/v1/agent/renew", marshal(t, wire.RenewRequest{CSR: string(csr)}), nil), http.StatusOK)
	nc, err := pki.ParseCertificatePEM([]byte(rr.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := pki.DeviceID(nc); id != a.deviceID {
		t.Errorf("renewed certificate names %q, want %q", id, a.deviceID)
	}

	// The read API sees it all.
	dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID, nil), http.StatusOK)
	var keys []string
	for k := range dev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"agent_heartbeat_at", "agent_spool_depth", "agent_transport", "agent_version", "board_serial", "cert_not_after", "cert_serial", "compliance", "enrolled_at", "enrolment", "enrolments", "exceptions", "first_seen", "flag_details", "flags", "hostname", "id", "kernel", "last_report_seq", "last_seen", "last_update_at", "macs", "model", "os_build", "os_name", "os_version", "pending_security_updates", "pending_updates", "platform", "reboot_required", "recent_changes", "software_count", "state", "system_encrypted", "system_serial", "system_uuid", "vendor"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("device JSON keys (-want +got):\n%s", diff)
	}
	for _, ref := range []string{snap.Hardware.SystemSerial, strings.ToUpper(snap.Hardware.Hostname)} {
		if ref == "" {
			continue
		}
		got := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+url.PathEscape(ref), nil), http.StatusOK)
		if got["id"] != a.deviceID {
			t.Errorf("device %q: got %v, want %s", ref, got["id"], a.deviceID)
		}
	}
	gotSnap := f.admin(t, "GET", "/api/v1/devices/"+a.deviceID+"/snapshot", nil)
	s, err := registrytest.Decode(gotSnap.body)
	if err != nil || registrytest.Hash(t, s) != registrytest.Hash(t, next) {
		t.Errorf("snapshot endpoint: %v, hash mismatch", err)
	}

	// Page through the software two hundred at a time.
	var all []registry.Package
	path := "/api/v1/devices/" + a.deviceID + "/software?limit=200"
	for {
		page := decode[struct {
			Items      []registry.Package `json:"items"`
			NextCursor string             `json:"next_cursor"`
		}](t, f.admin(t, "GET", path, nil), http.StatusOK)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		path = "/api/v1/devices/" + a.deviceID + "/software?limit=200&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if len(all) != len(next.Software.Packages) {
		t.Errorf("paged software: got %d packages, want %d", len(all), len(next.Software.Packages))
	}

	pk := next.Software.Packages[0]
	hits := decode[struct {
		Items []registry.SoftwareHit `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/software?name="+url.QueryEscape(pk.Name)+"&version="+url.QueryEscape(pk.Version), nil), http.StatusOK)
	if len(hits.Items) != 1 || hits.Items[0].DeviceID != a.deviceID {
		t.Errorf("who has %s %s: %+v", pk.Name, pk.Version, hits.Items)
	}
	hist := decode[struct {
		Items []registry.HistoryEntry `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/history?kind=software_changed", nil), http.StatusOK)
	if len(hist.Items) != 1 || hist.Items[0].Old+"+1" != hist.Items[0].New || hist.Items[0].Seq != 2 {
		t.Errorf("fleet history of software_changed: %+v", hist.Items)
	}
	dh := decode[struct {
		Items []registry.HistoryEntry `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID+"/history?since="+url.QueryEscape(f.clock.Now().Add(-time.Minute).Format(time.RFC3339)), nil), http.StatusOK)
	if len(dh.Items) < 2 {
		t.Errorf("device history: %+v, want enrolled and software_changed", dh.Items)
	}
	list := decode[struct {
		Items []registry.Device `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/devices?software="+url.QueryEscape(pk.Name)+"&platform="+snap.Platform, nil), http.StatusOK)
	if len(list.Items) != 1 {
		t.Errorf("devices with %s: got %d, want 1", pk.Name, len(list.Items))
	}

	// Metrics counted the work.
	var mb bytes.Buffer
	f.metrics.WriteTo(context.Background(), &mb)
	for _, want := range []string{`roster_reports_applied_total{kind="full"} 1`, `roster_reports_applied_total{kind="delta"} 1`, `roster_reports_received_total{kind="full"} 2`, `roster_devices{state="active"} 1`, `roster_ingest_seconds_count 3`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, mb.String())
		}
	}

	// An agent that has seen the ack's protocol version 2 hashes the
	// next snapshot in the second form, on a base hashed in the first.
	next2 := registrytest.Clone(t, next)
	next2.CollectedAt = next2.CollectedAt.Add(time.Hour)
	next2.Software.Packages[1].Version += "+1"
	h2 := registrytest.HashAt(t, next2, 2)
	dr2 := &wire.Report{ProtocolVersion: 2, Kind: wire.ReportDelta, Seq: 3, BaseHash: dr.Hash, Delta: registrytest.Diff(t, next, next2), Hash: h2}
	if ack := f.report(t, a, dr2); ack.Status != wire.AckApplied || ack.Hash != h2 {
		t.Errorf("delta of protocol version 2: %+v, want applied with hash %s", ack, h2)
	}
	gotSnap = f.admin(t, "GET", "/api/v1/devices/"+a.deviceID+"/snapshot", nil)
	if s, err := registrytest.Decode(gotSnap.body); err != nil || registrytest.Hash(t, s) != registrytest.Hash(t, next2) {
		t.Errorf("snapshot endpoint after the version 2 delta: %v, hash mismatch", err)
	}
}

func TestReadAPIRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	c := f.client(t, nil)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"no token", "GET", "/api/v1/devices", nil, 401, "unauthenticated"},
		{"unknown token", "GET", "/api/v1/devices", map[string]string{"Authorization": "Bearer rst_nope"}, 401, "unauthenticated"},
		{"basic auth", "GET", "/api/v1/secrets", map[string]string{"Authorization": "Basic " + f.token}, 401, "unauthenticated"},
		{"unknown device", "GET", "/api/v1/devices/nope", map[string]string{"Authorization": "Bearer " + f.token}, 404, "not_found"},
		{"bad limit", "GET", "/api/v1/devices?limit=0", map[string]string{"Authorization": "Bearer " + f.token}, 400, "bad_parameter"},
		{"bad time", "GET", "/api/v1/history?since=yesterday", map[string]string{"Authorization": "Bearer " + f.token}, 400, "bad_parameter"},
		{"bad cursor", "GET", "/api/v1/history?cursor=xyz", map[string]string{"Authorization": "Bearer " + f.token}, 400, "bad_parameter"},
		{"unknown parameter", "GET", "/api/v1/devices?hostnme=a", map[string]string{"Authorization": "Bearer " + f.token}, 400, "bad_parameter"},
		{"software without name", "GET", "/api/v1/software", map[string]string{"Authorization": "Bearer " + f.token}, 400, "bad_parameter"},
		{"wrong method", "PUT", "/api/v1/devices", map[string]string{"Authorization": "Bearer " + f.token}, 405, "method_not_allowed"},
		{"no such endpoint", "GET", "/api/v2/devices", nil, 404, "not_found"},
		{"revoke unknown secret", "DELETE", "/api/v1/secrets/nope", map[string]string{"Authorization": "Bearer " + f.token}, 404, "not_found"},
		{"secret with empty body", "POST", "/api/v1/secrets", map[string]string{"Authorization": "Bearer " + f.token}, 400, "malformed_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counts(t)
			r := f.do(t, c, tc.method, tc.path, nil, tc.hdr)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.errCode(t); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if diff := cmp.Diff(before, f.counts(t)); diff != "" {
				t.Errorf("database changed (-before +after):\n%s", diff)
			}
		})
	}
	for _, body := range []string{`{"label":"x","expires_in":"soon"}`, `{"label":"x","max_uses":-1}`, `{"label":"x","colour":"red"}`} {
		before := f.counts(t)
		r := f.do(t, c, "POST", "/api/v1/secrets", []byte(body), map[string]string{"Authorization": "Bearer " + f.token})
		if r.status != 400 {
			t.Errorf("secret %s: status %d, want 400", body, r.status)
		}
		if diff := cmp.Diff(before, f.counts(t)); diff != "" {
			t.Errorf("database changed:\n%s", diff)
		}
	}
	// A helpdesk token reads but cannot make secrets.
	_, tok, err := f.reg.CreateToken(context.Background(), registry.TokenInput{Principal: "desk", Role: "helpdesk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, c, "GET", "/api/v1/devices", nil, map[string]string{"Authorization": "Bearer " + tok}); r.status != 200 {
		t.Errorf("helpdesk list: %d, want 200", r.status)
	}
	if r := f.do(t, c, "POST", "/api/v1/secrets", []byte(`{}`), map[string]string{"Authorization": "Bearer " + tok}); r.status != 403 || r.errCode(t) != "forbidden" {
		t.Errorf("helpdesk secret: %d %s, want 403 forbidden", r.status, r.body)
	}
}

func TestSecretsLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	s := f.newSecret(t, "12h")
	if s.ExpiresAt == nil || s.ExpiresAt.Sub(f.clock.Now()) != 12*time.Hour || !strings.HasPrefix(s.Secret, "rse_") {
		t.Errorf("created secret: %+v", s)
	}
	list := decode[struct {
		Items []map[string]any `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/secrets", nil), http.StatusOK)
	if len(list.Items) != 1 {
		t.Fatalf("secrets: %v", list.Items)
	}
	var keys []string
	for k := range list.Items[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"created_at", "expires_at", "id", "label", "max_uses", "revoked_at", "uses"}, keys); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	rev := decode[map[string]any](t, f.admin(t, "DELETE", "/api/v1/secrets/"+s.ID, nil), http.StatusOK)
	if rev["revoked_at"] == nil {
		t.Errorf("revoked secret: %v", rev)
	}
	req, _ := f.enrollReq(t, s.Secret, wire.IdentityOf(snap))
	before := f.counts(t)
	r := f.do(t, f.client(t, nil), "POST", "/api/v1/enroll", marshal(t, req), nil)
	if r.status != 403 || r.errCode(t) != "secret_invalid" {
		t.Errorf("enrol with revoked secret: %d %s", r.status, r.body)
	}
	if diff := cmp.Diff(before, f.counts(t)); diff != "" {
		t.Errorf("database changed:\n%s", diff)
	}
}

func TestEnrolRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	good := f.newSecret(t, "1h")
	expiring := f.newSecret(t, "1h")
	valid, _ := f.enrollReq(t, good.Secret, wire.IdentityOf(snap))
	with := func(mod func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(marshal(t, valid), &m)
		mod(m)
		return marshal(t, m)
	}
	c := f.client(t, nil)
	for _, tc := range []struct {
		name    string
		body    []byte
		hdr     map[string]string
		advance time.Duration
		status  int
		code    string
	}{
		{"malformed json", []byte(`{"secret":`), nil, 0, 400, "malformed_json"},
		{"trailing data", append(marshal(t, valid), []byte(` {}`)...), nil, 0, 400, "malformed_json"},
		{"unknown field", with(func(m map[string]any) { m["device_id"] = "mine" }), nil, 0, 400, "unknown_field"},
		{"bad csr", with(func(m map[string]any) {
			m["csr"] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
		}), nil, 0, 400, "bad_csr"},
		{"unknown secret", with(func(m map[string]any) { m["secret"] = "rse_guess" }), nil, 0, 403, "secret_invalid"},
		{"wrong content type", marshal(t, valid), map[string]string{"Content-Type": "text/plain"}, 0, 415, "unsupported_media_type"},
		{"too large", append(marshal(t, valid), bytes.Repeat([]byte(" "), 70<<10)...), nil, 0, 413, "too_large"},
		{"expired secret", with(func(m map[string]any) { m["secret"] = expiring.Secret }), nil, 2 * time.Hour, 403, "secret_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Add(tc.advance)
			before := f.counts(t)
			r := f.do(t, c, "POST", "/api/v1/enroll", tc.body, tc.hdr)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.errCode(t); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if diff := cmp.Diff(before, f.counts(t)); diff != "" {
				t.Errorf("database changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestReportRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "")
	a := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	if ack := f.report(t, a, fullReport(t, snap, 1)); ack.Status != wire.AckApplied {
		t.Fatalf("first report: %+v", ack)
	}
	next := registrytest.Clone(t, snap)
	next.CollectedAt = next.CollectedAt.Add(time.Hour)
	next.Software.Packages = next.Software.Packages[1:]
	good := marshal(t, fullReport(t, next, 2))
	withField := func(b []byte, path []string, key string) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		cur := m
		for _, p := range path {
			cur = cur[p].(map[string]any)
		}
		cur[key] = true
		return marshal(t, m)
	}
	d, err := wire.Diff(next, snap)
	if err != nil {
		t.Fatal(err)
	}
	unknownBase := marshal(t, &wire.Report{ProtocolVersion: 1, Kind: wire.ReportDelta, Seq: 2, BaseHash: registrytest.Hash(t, next), Delta: d, Hash: registrytest.Hash(t, snap)})
	badHash := fullReport(t, next, 2)
	badHash.Hash = registrytest.Hash(t, snap)
	zeroSeq := fullReport(t, next, 0)
	valid := gz(t, good, gzip.DefaultCompression)
	// Padding JSON with whitespace keeps it valid: only the limits refuse it.
	bigCompressed := gz(t, append(bytes.Clone(good), bytes.Repeat([]byte(" "), testMaxCompressed)...), gzip.NoCompression)
	bomb := gz(t, append(bytes.Clone(good), bytes.Repeat([]byte(" "), testMaxDecompressed)...), gzip.BestCompression)
	if len(bomb) > testMaxCompressed || len(good) > testMaxDecompressed {
		t.Fatalf("test bodies do not isolate the decompressed limit: %d compressed, %d plain", len(bomb), len(good))
	}

	// A second agent whose certificate is revoked, and one from a foreign
	// CA that signed a certificate naming the first agent's device.
	b := f.enroll(t, sec.Secret, wire.Identity{Platform: "linux", SystemSerial: "OTHER-1"})
	if r := f.admin(t, "POST", "/api/v1/devices/"+b.deviceID+"/revoke", nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		name   string
		client *http.Client
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"malformed json", a.client, gz(t, []byte(`{"kind":"full",`), 6), reportHeaders, 400, "malformed_json"},
		{"trailing data", a.client, gz(t, append(bytes.Clone(good), []byte(`{}`)...), 6), reportHeaders, 400, "malformed_json"},
		{"not gzip", a.client, good, reportHeaders, 400, "bad_gzip"},
		{"truncated gzip", a.client, valid[:len(valid)-10], reportHeaders, 400, "bad_gzip"},
		{"corrupt gzip checksum", a.client, append(bytes.Clone(valid[:len(valid)-8]), 0, 0, 0, 0, 0, 0, 0, 0), reportHeaders, 400, "bad_gzip"},
		{"no content-encoding", a.client, good, map[string]string{"Content-Type": "application/json"}, 415, "unsupported_media_type"},
		{"oversized compressed", a.client, bigCompressed, reportHeaders, 413, "too_large"},
		{"oversized decompressed", a.client, bomb, reportHeaders, 413, "too_large"},
		{"unknown field", a.client, gz(t, withField(good, nil, "device_id"), 6), reportHeaders, 400, "unknown_field"},
		{"unknown field in snapshot", a.client, gz(t, withField(good, []string{"snapshot", "hardware"}, "owner"), 6), reportHeaders, 400, "unknown_field"},
		{"hash mismatch", a.client, gz(t, marshal(t, badHash), 6), reportHeaders, 400, "bad_report"},
		{"zero seq", a.client, gz(t, marshal(t, zeroSeq), 6), reportHeaders, 400, "bad_report"},
		{"no client certificate", f.client(t, nil), valid, reportHeaders, 401, "unauthenticated"},
		{"revoked certificate", b.client, valid, reportHeaders, 403, "certificate_revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counts(t)
			r := f.do(t, tc.client, "POST", "/api/v1/agent/report", tc.body, tc.hdr)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.errCode(t); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if diff := cmp.Diff(before, f.counts(t)); diff != "" {
				t.Errorf("database changed (-before +after):\n%s", diff)
			}
		})
	}

	t.Run("delta against unknown base", func(t *testing.T) {
		before := f.counts(t)
		r := f.do(t, a.client, "POST", "/api/v1/agent/report", gz(t, unknownBase, 6), reportHeaders)
		if ack := decode[wire.Ack](t, r, 200); ack.Status != wire.AckResync {
			t.Errorf("ack %+v, want resync", ack)
		}
		if diff := cmp.Diff(before, f.counts(t)); diff != "" {
			t.Errorf("database changed (-before +after):\n%s", diff)
		}
	})

	t.Run("foreign CA", func(t *testing.T) {
		foreign, _, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		csr, key := registrytest.CSR(t)
		_, fc, err := foreign.SignClient(csr, a.deviceID, time.Now(), pki.ClientValidity)
		if err != nil {
			t.Fatal(err)
		}
		cert := tls.Certificate{Certificate: [][]byte{fc.Raw}, PrivateKey: key, Leaf: fc}
		before := f.counts(t)
		// The collector's listener verifies client certificates in the
		// handshake, so the request never reaches the handler.
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/agent/report", bytes.NewReader(valid))
		for k, v := range reportHeaders {
			req.Header.Set(k, v)
		}
		if resp, err := f.client(t, &cert).Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("foreign certificate: got status %d, want a refused handshake", resp.StatusCode)
		}
		if diff := cmp.Diff(before, f.counts(t)); diff != "" {
			t.Errorf("database changed (-before +after):\n%s", diff)
		}
		// A listener that only requests certificates still cannot let it
		// through: the handler verifies against the CA itself.
		g := newFixture(t, tls.RequestClientCert)
		r := g.do(t, g.client(t, &cert), "POST", "/api/v1/agent/report", valid, reportHeaders)
		if r.status != 401 || r.errCode(t) != "unauthenticated" {
			t.Errorf("foreign certificate on a requesting listener: %d %s, want 401 unauthenticated", r.status, r.body)
		}
	})

	var mb bytes.Buffer
	f.metrics.WriteTo(context.Background(), &mb)
	for _, want := range []string{`roster_reports_rejected_total{reason="bad_gzip"} 3`, `roster_reports_rejected_total{reason="too_large"} 2`, `roster_reports_rejected_total{reason="resync"} 1`, `roster_reports_rejected_total{reason="certificate_revoked"} 1`, `roster_devices{state="revoked"} 1`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, mb.String())
		}
	}
}

func TestReEnrolOverAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "")
	a := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	f.report(t, a, fullReport(t, snap, 1))
	// A live device's identity alone is a conflict, never a takeover.
	imp := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	if imp.deviceID == a.deviceID {
		t.Fatalf("an enrolment with a live device's identity took it over")
	}
	dev := decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID, nil), http.StatusOK)
	if cs, _ := dev["identity_conflicts"].([]any); dev["state"] != registry.StateIdentityConflict || len(cs) != 1 {
		t.Errorf("live device after the conflicting enrolment: state %v conflicts %v", dev["state"], dev["identity_conflicts"])
	}
	if r := f.admin(t, "POST", "/api/v1/devices/"+imp.deviceID+"/revoke", nil); r.status != http.StatusOK {
		t.Fatalf("revoke the impostor: %d %s", r.status, r.body)
	}
	// A planned reinstall, pre-authorised by an admin.
	if r := f.admin(t, "POST", "/api/v1/devices/"+a.deviceID+"/allow-reenroll", map[string]string{"within": "1h"}); r.status != http.StatusOK {
		t.Fatalf("allow-reenroll: %d %s", r.status, r.body)
	}
	b := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	if a.deviceID != b.deviceID {
		t.Fatalf("reinstall got a new device id")
	}
	r := f.do(t, a.client, "POST", "/api/v1/agent/report", gz(t, marshal(t, fullReport(t, snap, 2)), 6), reportHeaders)
	if r.status != 403 || r.errCode(t) != "certificate_revoked" {
		t.Errorf("old agent after re-enrolment: %d %s, want 403 certificate_revoked", r.status, r.body)
	}
	if ack := f.report(t, b, fullReport(t, snap, 1)); ack.Status != wire.AckApplied {
		t.Errorf("new agent's first report: %+v", ack)
	}
	h := decode[struct {
		Items []registry.HistoryEntry `json:"items"`
	}](t, f.admin(t, "GET", "/api/v1/devices/"+a.deviceID+"/history?kind=re_enrolled", nil), http.StatusOK)
	if len(h.Items) != 1 {
		t.Errorf("re_enrolled events: %+v", h.Items)
	}
}

// TestConcurrentAgents has several agents report at once: every report is
// applied exactly once, with no lock errors surfacing as 500s.
func TestConcurrentAgents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "")
	const agents, reports = 6, 4
	var as []agent
	var bodies [][][]byte
	for i := range agents {
		s := registrytest.Clone(t, snap)
		s.Hardware.SystemSerial = fmt.Sprintf("CONC%02d", i)
		s.Hardware.SystemUUID, s.Hardware.NICs = "", nil
		as = append(as, f.enroll(t, sec.Secret, wire.IdentityOf(s)))
		var bs [][]byte
		for seq := 1; seq <= reports; seq++ {
			s.CollectedAt = s.CollectedAt.Add(time.Minute)
			bs = append(bs, gz(t, marshal(t, fullReport(t, registrytest.Clone(t, s), uint64(seq))), 6))
		}
		bodies = append(bodies, bs)
	}
	var wg sync.WaitGroup
	errs := make(chan error, agents*reports)
	for i, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range bodies[i] {
				req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/agent/report", bytes.NewReader(body))
				for k, v := range reportHeaders {
					req.Header.Set(k, v)
				}
				resp, err := a.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var ack wire.Ack
				err = json.NewDecoder(resp.Body).Decode(&ack)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || ack.Status != wire.AckApplied {
					errs <- fmt.Errorf("agent %d: status %d ack %+v err %v", i, resp.StatusCode, ack, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.counts(t)["reports_applied"]; got != agents*reports {
		t.Errorf("reports applied: got %d, want %d", got, agents*reports)
	}
}
