package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/api"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// testSchedule is deliberately not the defaults, so an ack carrying it
// proves it came from Options.
var testSchedule = wire.Schedule{ReportIntervalS: 1800, HeartbeatIntervalS: 120, FullEveryS: 86400}

func withSchedule(sc wire.Schedule) func(*api.Options) {
	return func(o *api.Options) { o.Schedule = sc }
}

var heartbeatHeaders = map[string]string{"Content-Type": "application/json"}

func (f *fixture) heartbeat(t *testing.T, a agent, hb wire.Heartbeat) wire.HeartbeatAck {
	t.Helper()
	return decode[wire.HeartbeatAck](t, f.do(t, a.client, "POST", "/api/v1/agent/heartbeat", marshal(t, hb), heartbeatHeaders), http.StatusOK)
}

// device reads a device through the read API as the JSON object it is.
func (f *fixture) device(t *testing.T, id string) map[string]any {
	t.Helper()
	return decode[map[string]any](t, f.admin(t, "GET", "/api/v1/devices/"+id, nil), http.StatusOK)
}

func (f *fixture) history(t *testing.T, id string) string {
	t.Helper()
	r := f.admin(t, "GET", "/api/v1/devices/"+id+"/history?limit=1000", nil)
	if r.status != http.StatusOK {
		t.Fatalf("history: %d %s", r.status, r.body)
	}
	return string(r.body)
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven, withSchedule(testSchedule))
	snap := registrytest.Rich(t)
	a := f.enroll(t, f.newSecret(t, "").Secret, wire.IdentityOf(snap))
	hash := registrytest.Hash(t, snap)
	other := registrytest.Clone(t, snap)
	other.CollectedAt = other.CollectedAt.Add(time.Hour)
	otherHash := registrytest.Hash(t, other)
	sched := testSchedule

	// beat sends hb after moving the clock and checks that only last_seen
	// (to the clock) and agent_version changed.
	beat := func(t *testing.T, hb wire.Heartbeat, body []byte, hdr map[string]string, wantVersion string) wire.HeartbeatAck {
		t.Helper()
		f.clock.Add(5 * time.Minute)
		before, counts, hist := f.device(t, a.deviceID), f.counts(t), f.history(t, a.deviceID)
		if body == nil {
			body = marshal(t, hb)
		}
		ack := decode[wire.HeartbeatAck](t, f.do(t, a.client, "POST", "/api/v1/agent/heartbeat", body, hdr), http.StatusOK)
		after := f.device(t, a.deviceID)
		if got, _ := time.Parse(time.RFC3339Nano, after["last_seen"].(string)); !got.Equal(f.clock.Now()) {
			t.Errorf("last_seen %v, want the clock's %v", after["last_seen"], f.clock.Now())
		}
		if after["agent_version"] != wantVersion {
			t.Errorf("agent_version %v, want %q", after["agent_version"], wantVersion)
		}
		if got, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(after["agent_heartbeat_at"])); !got.Equal(f.clock.Now()) {
			t.Errorf("agent_heartbeat_at %v, want the clock's %v", after["agent_heartbeat_at"], f.clock.Now())
		}
		if after["agent_spool_depth"] != float64(hb.SpoolDepth) || after["agent_transport"] == "" {
			t.Errorf("agent health: spool %v transport %q, want %d and the request's protocol", after["agent_spool_depth"], after["agent_transport"], hb.SpoolDepth)
		}
		// The agent's health is kept; nothing else moves.
		for _, k := range []string{"last_seen", "agent_version", "agent_heartbeat_at", "agent_spool_depth", "agent_transport"} {
			before[k] = after[k]
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("device changed beyond last_seen, agent_version and agent health (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(counts, f.counts(t)); diff != "" {
			t.Errorf("row counts changed (-before +after):\n%s", diff)
		}
		if got := f.history(t, a.deviceID); got != hist {
			t.Errorf("history changed: %s, was %s", got, hist)
		}
		return ack
	}
	hb := func(lastHash, version string) wire.Heartbeat {
		return wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: version, LastSeq: 1, LastHash: lastHash, SpoolDepth: 2}
	}
	resync := wire.HeartbeatAck{Status: wire.HeartbeatResync, DeviceID: a.deviceID, Schedule: &sched}
	ok := wire.HeartbeatAck{Status: wire.HeartbeatOK, DeviceID: a.deviceID, Schedule: &sched}

	t.Run("no report yet", func(t *testing.T) {
		for _, last := range []string{"", hash} {
			if diff := cmp.Diff(resync, beat(t, hb(last, "1.0.0"), nil, heartbeatHeaders, "1.0.0")); diff != "" {
				t.Errorf("last_hash %q: ack (-want +got):\n%s", last, diff)
			}
		}
	})

	// Every report ack carries the schedule: applied, duplicate, resync.
	ack := f.report(t, a, fullReport(t, snap, 1))
	if diff := cmp.Diff(wire.Ack{Status: wire.AckApplied, Seq: 1, Hash: hash, DeviceID: a.deviceID, Schedule: &sched, ProtocolVersion: wire.ProtocolVersion}, ack); diff != "" {
		t.Errorf("applied ack (-want +got):\n%s", diff)
	}
	if ack := f.report(t, a, fullReport(t, snap, 1)); ack.Status != wire.AckDuplicate || !cmp.Equal(ack.Schedule, &sched) {
		t.Errorf("duplicate ack %+v, want duplicate with schedule %+v", ack, sched)
	}
	d, err := wire.Diff(other, snap)
	if err != nil {
		t.Fatal(err)
	}
	unknownBase := &wire.Report{ProtocolVersion: wire.ProtocolVersion, Kind: wire.ReportDelta, Seq: 2, BaseHash: otherHash, Delta: d, Hash: hash}
	if ack := f.report(t, a, unknownBase); ack.Status != wire.AckResync || !cmp.Equal(ack.Schedule, &sched) {
		t.Errorf("resync ack %+v, want resync with schedule %+v", ack, sched)
	}

	for _, tc := range []struct {
		name        string
		hb          wire.Heartbeat
		body        []byte
		hdr         map[string]string
		wantVersion string
		want        wire.HeartbeatAck
	}{
		{"in step", hb(hash, "1.0.1"), nil, heartbeatHeaders, "1.0.1", ok},
		{"no agent version keeps the stored one", hb(hash, ""), nil, heartbeatHeaders, "1.0.1", ok},
		{"gzip", hb(hash, "1.0.2"), gz(t, marshal(t, hb(hash, "1.0.2")), gzip.DefaultCompression), map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, "1.0.2", ok},
		{"no content type", hb(hash, "1.0.2"), nil, nil, "1.0.2", ok},
		{"other hash", hb(otherHash, "1.0.2"), nil, heartbeatHeaders, "1.0.2", resync},
		{"no hash", hb("", "1.0.2"), nil, heartbeatHeaders, "1.0.2", resync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, beat(t, tc.hb, tc.body, tc.hdr, tc.wantVersion)); diff != "" {
				t.Errorf("ack (-want +got):\n%s", diff)
			}
		})
	}

	var mb bytes.Buffer
	f.metrics.WriteTo(context.Background(), &mb)
	for _, want := range []string{`roster_heartbeats_total{status="ok"} 4`, `roster_heartbeats_total{status="resync"} 4`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, mb.String())
		}
	}
}

// TestNoSchedule: a collector given no schedule sends none, so agents keep
// their own timing.
func TestNoSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven, withSchedule(wire.Schedule{HeartbeatIntervalS: -5}))
	snap := registrytest.Rich(t)
	a := f.enroll(t, f.newSecret(t, "").Secret, wire.IdentityOf(snap))
	if ack := f.report(t, a, fullReport(t, snap, 1)); ack.Status != wire.AckApplied || ack.Schedule != nil {
		t.Errorf("report ack %+v, want applied without a schedule", ack)
	}
	ack := f.heartbeat(t, a, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, LastHash: registrytest.Hash(t, snap)})
	if diff := cmp.Diff(wire.HeartbeatAck{Status: wire.HeartbeatOK, DeviceID: a.deviceID}, ack); diff != "" {
		t.Errorf("heartbeat ack (-want +got):\n%s", diff)
	}
}

func TestHeartbeatRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven, withSchedule(testSchedule))
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "")
	a := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	f.report(t, a, fullReport(t, snap, 1))
	b := f.enroll(t, sec.Secret, wire.Identity{Platform: "linux", SystemSerial: "OTHER-1"})
	if r := f.admin(t, "POST", "/api/v1/devices/"+b.deviceID+"/revoke", nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	good := marshal(t, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "1.0.0", LastSeq: 1, LastHash: registrytest.Hash(t, snap)})
	gzHeaders := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
	// Whitespace keeps JSON valid: only the limit refuses it.
	padded := append(bytes.Clone(good), bytes.Repeat([]byte(" "), 4<<10)...)
	field := func(kv string) []byte { return []byte(`{"protocol_version":1,` + kv + `}`) }

	for _, tc := range []struct {
		name   string
		client *http.Client
		method string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"no client certificate", f.client(t, nil), "POST", good, heartbeatHeaders, 401, "unauthenticated"},
		{"revoked certificate", b.client, "POST", good, heartbeatHeaders, 403, "certificate_revoked"},
		{"oversized", a.client, "POST", padded, heartbeatHeaders, 413, "too_large"},
		{"oversized once inflated", a.client, "POST", gz(t, padded, gzip.BestCompression), gzHeaders, 413, "too_large"},
		{"unknown field", a.client, "POST", field(`"device_id":"x"`), heartbeatHeaders, 400, "unknown_field"},
		{"trailing data", a.client, "POST", append(bytes.Clone(good), `{}`...), heartbeatHeaders, 400, "malformed_json"},
		{"malformed json", a.client, "POST", []byte(`{"protocol_version":`), heartbeatHeaders, 400, "malformed_json"},
		{"empty body", a.client, "POST", nil, heartbeatHeaders, 400, "malformed_json"},
		{"not gzip", a.client, "POST", good, gzHeaders, 400, "bad_gzip"},
		{"other encoding", a.client, "POST", good, map[string]string{"Content-Encoding": "br"}, 415, "unsupported_media_type"},
		{"not json", a.client, "POST", good, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"no protocol version", a.client, "POST", []byte(`{"last_seq":1}`), heartbeatHeaders, 400, "bad_request"},
		{"future protocol version", a.client, "POST", []byte(`{"protocol_version":99}`), heartbeatHeaders, 400, "bad_request"},
		{"bad last_hash", a.client, "POST", field(`"last_hash":"md5:00"`), heartbeatHeaders, 400, "bad_request"},
		{"negative spool depth", a.client, "POST", field(`"spool_depth":-1`), heartbeatHeaders, 400, "bad_request"},
		{"unprintable agent version", a.client, "POST", field(`"agent_version":"1.0\u001b[31m"`), heartbeatHeaders, 400, "bad_request"},
		{"long agent version", a.client, "POST", field(`"agent_version":"` + strings.Repeat("9", 129) + `"`), heartbeatHeaders, 400, "bad_request"},
		{"GET", a.client, "GET", nil, nil, 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Add(time.Minute)
			before, counts := f.device(t, a.deviceID), f.counts(t)
			r := f.do(t, tc.client, tc.method, "/api/v1/agent/heartbeat", tc.body, tc.hdr)
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.errCode(t); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if diff := cmp.Diff(before, f.device(t, a.deviceID)); diff != "" {
				t.Errorf("device changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(counts, f.counts(t)); diff != "" {
				t.Errorf("database changed (-before +after):\n%s", diff)
			}
		})
	}

	var mb bytes.Buffer
	f.metrics.WriteTo(context.Background(), &mb)
	for _, want := range []string{`roster_heartbeats_total{status="certificate_revoked"} 1`, `roster_heartbeats_total{status="too_large"} 2`, `roster_heartbeats_total{status="unauthenticated"} 1`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, mb.String())
		}
	}
}
