package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	snap := registrytest.Rich(t)
	d := e.enroll(t, e.secret(t), wire.IdentityOf(snap), t0)
	hash := registrytest.Hash(t, snap)
	beat := func(in registry.HeartbeatInput) (wire.HeartbeatAck, error) {
		if in.DeviceID == "" {
			in.DeviceID = d.DeviceID
		}
		if in.CertSerial == "" {
			in.CertSerial = d.serial
		}
		if in.Transport == "" {
			in.Transport = "HTTP/3.0"
		}
		ack, _, err := e.reg.Heartbeat(ctx, in)
		return ack, err
	}
	// unchanged checks that the heartbeat at now touched last_seen and
	// agent_version only: same rows everywhere, same history, same device
	// otherwise.
	unchanged := func(t *testing.T, before registry.Device, counts map[string]int, hist []registry.HistoryEntry, now time.Time, version string) {
		t.Helper()
		after, err := e.reg.Device(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if !after.LastSeen.Equal(now) {
			t.Errorf("last_seen %v, want %v", after.LastSeen, now)
		}
		if after.AgentVersion != version {
			t.Errorf("agent_version %q, want %q", after.AgentVersion, version)
		}
		if after.AgentHeartbeatAt == nil || !after.AgentHeartbeatAt.Equal(now) || after.AgentSpoolDepth == nil || after.AgentTransport != "HTTP/3.0" {
			t.Errorf("agent health: heartbeat at %v, spool %v, transport %q; want %v, a depth and HTTP/3.0", after.AgentHeartbeatAt, after.AgentSpoolDepth, after.AgentTransport, now)
		}
		before.LastSeen, before.AgentVersion = after.LastSeen, after.AgentVersion
		before.AgentHeartbeatAt, before.AgentSpoolDepth, before.AgentTransport = after.AgentHeartbeatAt, after.AgentSpoolDepth, after.AgentTransport
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("device changed beyond last_seen, agent_version and agent health (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(counts, e.counts(t)); diff != "" {
			t.Errorf("row counts changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(hist, e.history(t, d.DeviceID)); diff != "" {
			t.Errorf("history changed (-before +after):\n%s", diff)
		}
	}
	state := func() (registry.Device, map[string]int, []registry.HistoryEntry) {
		dev, err := e.reg.Device(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		return dev, e.counts(t), e.history(t, d.DeviceID)
	}

	// Before the first report every heartbeat asks for one, whatever the
	// agent believes it last sent.
	now := t0.Add(time.Minute)
	for _, last := range []string{"", hash} {
		dev, counts, hist := state()
		ack, err := beat(registry.HeartbeatInput{LastHash: last, AgentVersion: "1.2.0", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if want := (wire.HeartbeatAck{Status: wire.HeartbeatResync, DeviceID: d.DeviceID}); !cmp.Equal(ack, want) {
			t.Errorf("no report yet, last_hash %q: got %+v, want %+v", last, ack, want)
		}
		unchanged(t, dev, counts, hist, now, "1.2.0")
	}

	e.apply(t, d, full(t, snap, 1), t0.Add(2*time.Minute))
	for _, tc := range []struct {
		name, lastHash, version, wantVersion, status string
	}{
		{"in step", hash, "1.2.1", "1.2.1", wire.HeartbeatOK},
		{"no version keeps the stored one", hash, "", "1.2.1", wire.HeartbeatOK},
		{"other hash", registrytest.Hash(t, &wire.Snapshot{ProtocolVersion: 1}), "1.2.1", "1.2.1", wire.HeartbeatResync},
		{"no hash", "", "1.2.1", "1.2.1", wire.HeartbeatResync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(5 * time.Minute)
			dev, counts, hist := state()
			ack, err := beat(registry.HeartbeatInput{LastHash: tc.lastHash, AgentVersion: tc.version, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if ack.Status != tc.status || ack.DeviceID != d.DeviceID {
				t.Errorf("got %+v, want status %s for %s", ack, tc.status, d.DeviceID)
			}
			unchanged(t, dev, counts, hist, now, tc.wantVersion)
		})
	}
}

func TestHeartbeatRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	sec := e.secret(t)
	snap := registrytest.Rich(t)
	a := e.enroll(t, sec, wire.Identity{Platform: "linux", SystemSerial: "HB-A"}, t0)
	b := e.enroll(t, sec, wire.Identity{Platform: "linux", SystemSerial: "HB-B"}, t0)
	if _, err := e.reg.RevokeDevice(ctx, b.DeviceID, t0); err != nil {
		t.Fatal(err)
	}
	// c re-enrols after a reinstall: its first certificate is revoked.
	c1 := e.enroll(t, sec, wire.IdentityOf(snap), t0)
	if _, err := e.reg.AllowReenroll(ctx, c1.DeviceID, time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	c2 := e.enroll(t, sec, wire.IdentityOf(snap), t0)
	if c1.DeviceID != c2.DeviceID {
		t.Fatalf("re-enrolment made a new device")
	}
	for _, tc := range []struct {
		name, device, serial string
	}{
		{"revoked device", b.DeviceID, b.serial},
		{"revoked certificate after re-enrolment", c1.DeviceID, c1.serial},
		{"another device's certificate", a.DeviceID, c2.serial},
		{"unknown certificate", a.DeviceID, "00ff"},
		{"unknown device", "00000000-0000-4000-8000-000000000000", a.serial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, err := e.reg.ListDevices(ctx, registry.DeviceFilter{}, registry.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			counts := e.counts(t)
			_, _, err = e.reg.Heartbeat(ctx, registry.HeartbeatInput{DeviceID: tc.device, CertSerial: tc.serial, AgentVersion: "9.9", Now: t0.Add(time.Hour)})
			if !errors.Is(err, registry.ErrCertificateRevoked) {
				t.Errorf("got %v, want ErrCertificateRevoked", err)
			}
			after, _, err := e.reg.ListDevices(ctx, registry.DeviceFilter{}, registry.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("devices changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(counts, e.counts(t)); diff != "" {
				t.Errorf("row counts changed (-before +after):\n%s", diff)
			}
		})
	}
}

// BenchmarkHeartbeat measures the heartbeat of a device holding a real
// snapshot: every agent sends one every five minutes, 330/s for 100k
// agents.
func BenchmarkHeartbeat(b *testing.B) {
	e := newEnvB(b)
	snap := registrytest.Rich(b)
	d := e.enrollB(b, snap)
	if _, err := e.applyB(d, fullB(b, snap, 1)); err != nil {
		b.Fatal(err)
	}
	hash := registrytest.Hash(b, snap)
	ctx := context.Background()
	now := t0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		ack, _, err := e.reg.Heartbeat(ctx, registry.HeartbeatInput{DeviceID: d.DeviceID, CertSerial: d.serial, AgentVersion: "1.0", LastHash: hash, Now: now})
		if err != nil || ack.Status != wire.HeartbeatOK {
			b.Fatalf("%v %+v", err, ack)
		}
	}
}

// BenchmarkHeartbeatParallel measures heartbeats from 48 machines, 8 in
// flight at once as roster-loadgen --kind heartbeat sends them, without
// the HTTP and TLS around them: what group commit gives them. ns/op is per
// heartbeat.
func BenchmarkHeartbeatParallel(b *testing.B) {
	const machines, inFlight = 48, 8
	e := newEnvB(b)
	a, _ := toggled(b)
	type dev struct {
		enrolled
		hash string
	}
	devs := make([]*dev, machines)
	for i := range devs {
		ai := machine(b, a, i)
		d := &dev{enrolled: e.enrollB(b, ai), hash: registrytest.Hash(b, ai)}
		if ack, err := e.applyB(d.enrolled, fullB(b, ai, 1)); err != nil || ack.Status != wire.AckApplied {
			b.Fatalf("machine %d: first full report: %v %+v", i, err, ack)
		}
		devs[i] = d
	}
	ctx := context.Background()
	inFlightMachines(b, machines, inFlight, func(m, n int) bool {
		d := devs[m]
		now := t0.Add(time.Duration(n) * time.Second)
		ack, _, err := e.reg.Heartbeat(ctx, registry.HeartbeatInput{DeviceID: d.DeviceID, CertSerial: d.serial, AgentVersion: "1.0", LastHash: d.hash, Now: now})
		if err != nil || ack.Status != wire.HeartbeatOK {
			b.Errorf("%v %+v", err, ack)
			return false
		}
		return true
	})
}
