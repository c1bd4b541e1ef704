package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/enroll"
	"github.com/rosterhq/roster/agent/transport"
)

// TestResumedCheckins runs the collector's real API, registry, CA and TLS
// configuration against the agent's real enrolment and transport: check-ins
// after the first resume the TLS session on new connections; a device
// revoked meanwhile is refused on its resumed session (the session carries
// the certificate, the API checks it against the registry per request);
// and a collector restarted with the same keys resumes the sessions it
// issued before.
func TestResumedCheckins(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{transport.ModeHTTPS, transport.ModeHTTP3} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			c, err := startCollector(ctx, dir, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := c.srv.Addr()
			defer func() { c.Close() }()
			clients := map[string]*transport.Client{}
			devices := map[string]*enroll.Credentials{}
			for _, name := range []string{"kept", "revoked"} {
				creds, err := enrol(ctx, c, filepath.Join(dir, name), "WIRE-"+name)
				if err != nil {
					t.Fatal(err)
				}
				cl, err := transport.New(transport.Options{BaseURL: "https://" + addr, TLS: creds.TLS, Mode: mode, QUICTimeout: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				clients[name], devices[name] = cl, creds
			}
			// beat sends a heartbeat on a new connection and returns
			// whether the collector saw it resumed.
			beat := func(name string) (bool, error) {
				t.Helper()
				clients[name].CloseIdleConnections()
				seen := len(c.Resumed())
				_, err := heartbeat(ctx, clients[name])
				r := c.Resumed()
				if len(r) != seen+1 {
					t.Fatalf("%s: the collector saw %d agent requests for one heartbeat", name, len(r)-seen)
				}
				return r[seen], err
			}
			for i := range 3 {
				for _, name := range []string{"kept", "revoked"} {
					resumed, err := beat(name)
					if err != nil {
						t.Fatalf("%s heartbeat %d: %v", name, i+1, err)
					}
					if resumed != (i > 0) {
						t.Errorf("%s heartbeat %d: resumed %v, want %v", name, i+1, resumed, i > 0)
					}
				}
			}

			if _, err := c.reg.RevokeDevice(ctx, devices["revoked"].Device.DeviceID, time.Now()); err != nil {
				t.Fatal(err)
			}
			resumed, err := beat("revoked")
			var he *transport.HTTPError
			if !errors.As(err, &he) || !he.Revoked() {
				t.Errorf("revoked device's heartbeat: %v, want a 401/403 refusal", err)
			}
			if !resumed {
				t.Error("the revoked device's session was not resumed: the test did not test a resumed session")
			}

			// A restart with the same data directory keeps the keys
			// tickets are sealed with.
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if c, err = startCollector(ctx, dir, addr); err != nil {
				t.Fatal(err)
			}
			resumed, err = beat("kept")
			if err != nil {
				t.Fatalf("heartbeat after the restart: %v", err)
			}
			if !resumed {
				t.Error("heartbeat after the restart: not resumed")
			}
		})
	}
}

// TestHeartbeatAck: the measured exchange is a real, accepted heartbeat.
func TestHeartbeatAck(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := measure(ctx, t.TempDir(), transport.ModeHTTPS, 3, 700*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.beats) != 3 || res.resumed != 2 {
		t.Errorf("measured %d heartbeats, %d resumed; want 3, 2 resumed", len(res.beats), res.resumed)
	}
	for i, b := range res.beats {
		if b == 0 {
			t.Errorf("heartbeat %d: no bytes through the relay", i+1)
		}
	}
}
