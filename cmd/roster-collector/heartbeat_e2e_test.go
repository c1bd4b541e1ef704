package main

// The heartbeat end to end: the real roster-collector configured with an
// agents: schedule, a certificate from the real roster-agent's enrolment,
// and heartbeats over HTTPS and HTTP/3 that find the device before and
// after its first report.

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/quic-go/quic-go/http3"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

func TestAgentHeartbeat(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("agents:\n  report_interval: 30m\n  heartbeat_interval: 2m\n  full_every: 48h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--config", cfg}})
	wantSchedule := &wire.Schedule{ReportIntervalS: 1800, HeartbeatIntervalS: 120, FullEveryS: 172800}

	out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--label", "heartbeat", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)
	stateDir := filepath.Join(t.TempDir(), "state")
	base := []string{"--state-dir", stateDir, "--transport", "https"}
	out, errOut, code = agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}
	var enrolled struct {
		DeviceID string `json:"device_id"`
	}
	decodeJSON(t, "enroll", out, &enrolled)

	cert, err := tls.LoadX509KeyPair(filepath.Join(stateDir, "cert.pem"), filepath.Join(stateDir, "key.pem"))
	if err != nil {
		t.Fatalf("the agent's certificate: %v", err)
	}
	tlsConf := func() *tls.Config {
		return &tls.Config{RootCAs: caPool(t, c.CAFile), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	}
	h2 := &http.Transport{TLSClientConfig: tlsConf(), ForceAttemptHTTP2: true}
	h3 := &http3.Transport{TLSClientConfig: tlsConf()}
	t.Cleanup(func() { h2.CloseIdleConnections(); h3.Close() })
	transports := []struct {
		name, proto string
		rt          http.RoundTripper
	}{{"https", "HTTP/2.0", h2}, {"http3", "HTTP/3.0", h3}}

	beat := func(t *testing.T, rt http.RoundTripper, proto string, hb wire.Heartbeat) wire.HeartbeatAck {
		t.Helper()
		body, _ := json.Marshal(hb)
		req, _ := http.NewRequest("POST", c.URL+"/api/v1/agent/heartbeat", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Transport: rt, Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Proto != proto {
			t.Fatalf("heartbeat: %d over %s, want 200 over %s: %s", resp.StatusCode, resp.Proto, proto, b)
		}
		var ack wire.HeartbeatAck
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ack); err != nil {
			t.Fatalf("heartbeat ack %s: %v", b, err)
		}
		return ack
	}

	// Before any report the collector asks for one.
	for _, tr := range transports {
		t.Run("before report/"+tr.name, func(t *testing.T) {
			got := beat(t, tr.rt, tr.proto, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "e2e-" + tr.name})
			if diff := cmp.Diff(wire.HeartbeatAck{Status: wire.HeartbeatResync, DeviceID: enrolled.DeviceID, Schedule: wantSchedule}, got); diff != "" {
				t.Errorf("ack (-want +got):\n%s", diff)
			}
		})
	}

	out, errOut, code = agent(t, append([]string{"report", "--once", "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	var r reportResult
	decodeJSON(t, "report", out, &r)
	if r.Status != wire.AckApplied {
		t.Fatalf("report: %+v, want applied", r)
	}
	// The hash the agent now holds is that of the snapshot the registry
	// stored.
	req, _ := http.NewRequest("GET", c.URL+"/api/v1/devices/"+enrolled.DeviceID+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err := (&http.Client{Transport: h2, Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var snap wire.Snapshot
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	hash, err := wire.SnapshotHash(&snap)
	if err != nil {
		t.Fatal(err)
	}

	for _, tr := range transports {
		t.Run("after report/"+tr.name, func(t *testing.T) {
			got := beat(t, tr.rt, tr.proto, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion, AgentVersion: "e2e-" + tr.name, LastSeq: r.Seq, LastHash: hash})
			if diff := cmp.Diff(wire.HeartbeatAck{Status: wire.HeartbeatOK, DeviceID: enrolled.DeviceID, Schedule: wantSchedule}, got); diff != "" {
				t.Errorf("ack (-want +got):\n%s", diff)
			}
		})
	}

	// The last heartbeat's agent version is what the registry shows.
	out, errOut, code = rosterctl(t, c, c.AdminToken, "devices", "show", enrolled.DeviceID, "--json")
	if code != 0 {
		t.Fatalf("devices show: exit %d: %s", code, errOut)
	}
	var dev map[string]any
	decodeJSON(t, "devices show", out, &dev)
	if dev["agent_version"] != "e2e-http3" {
		t.Errorf("agent_version %v, want e2e-http3 from the last heartbeat", dev["agent_version"])
	}

	req, _ = http.NewRequest("GET", c.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err = (&http.Client{Transport: h2, Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`roster_heartbeats_total{status="ok"} 2`, `roster_heartbeats_total{status="resync"} 2`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestServeRefusesBadSchedule: a schedule that would make the fleet hammer
// the collector stops serve before it binds, with usage exit 2 and every
// problem named.
func TestServeRefusesBadSchedule(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte("agents:\n  report_interval: 1m\n  heartbeat_interval: 5s\n  full_every: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runInProcess(t, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--config", cfg)
	if code != exitUsage || stdout != "" {
		t.Errorf("got exit %d, stdout %q; want %d and nothing printed", code, stdout, exitUsage)
	}
	for _, want := range []string{"agents.heartbeat_interval 5s is below the minimum 10s", "agents.full_every (30s) must be at least agents.report_interval (1m0s)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q, want it to contain %q", stderr, want)
		}
	}
}
