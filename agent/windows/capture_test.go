package windows

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// TestReplayOfLiveCapture replays a capture that the real windows/amd64
// binary wrote with `inventory --capture` while running live (under Wine
// on this development machine, see testdata/SOURCES.md) and checks that
// the probes give the answers the live run printed: the in-process API
// sources (adapters, drives, Windows Update) and the commands replay the
// same. The registry is not part of a --capture tree, so the facts read
// from it are not compared.
func TestReplayOfLiveCapture(t *testing.T) {
	t.Parallel()
	dir := "testdata/hosts/wine8-debian12-firecracker"
	b, err := os.ReadFile(dir + "/live-snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var live wire.Snapshot
	if err := json.Unmarshal(b, &live); err != nil {
		t.Fatal(err)
	}
	h, err := host.Captured("windows", dir)
	if err != nil {
		t.Fatal(err)
	}
	got := probe.Run(context.Background(), h, Probes(), probe.Options{Now: func() time.Time { return time.Time{} }})
	if diff := cmp.Diff(live.Hardware.CPU, got.Hardware.CPU); diff != "" || live.Hardware.MemoryBytes != got.Hardware.MemoryBytes {
		t.Errorf("memory live %d replay %d; CPU (-live +replay):\n%s", live.Hardware.MemoryBytes, got.Hardware.MemoryBytes, diff)
	}
	if diff := cmp.Diff(live.Hardware.NICs, got.Hardware.NICs); diff != "" {
		t.Errorf("NICs (-live +replay):\n%s", diff)
	}
	if diff := cmp.Diff(live.Hardware.Disks, got.Hardware.Disks); diff != "" {
		t.Errorf("disks (-live +replay):\n%s", diff)
	}
	if diff := cmp.Diff(live.Encryption, got.Encryption); diff != "" {
		t.Errorf("encryption (-live +replay):\n%s", diff)
	}
	for _, f := range []string{"pending_updates", "pending_security_updates", "last_update_at"} {
		if live.OS.Unknown[f] == "" || live.OS.Unknown[f] != got.OS.Unknown[f] {
			t.Errorf("os unknown %s: live %q, replay %q", f, live.OS.Unknown[f], got.OS.Unknown[f])
		}
	}
	status := func(s *wire.Snapshot) map[string]string {
		m := map[string]string{}
		for _, p := range s.Probes {
			switch p.Name {
			case "hardware/cpu-memory", "hardware/nics", "hardware/disks", "encryption", "os/updates", "os/hotfixes":
				m[p.Name] = p.Status + " " + p.Message
			}
		}
		return m
	}
	if diff := cmp.Diff(status(&live), status(got)); diff != "" {
		t.Errorf("probe statuses (-live +replay):\n%s", diff)
	}
}
