package windows

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
)

// TestCapturedHosts runs the probes on each captured Windows host and
// compares with its golden want.json (collected_at and durations zeroed,
// as the end-to-end test does).
func TestCapturedHosts(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob("../../testdata/hosts/windows/*")
	if err != nil || len(dirs) < 2 {
		t.Fatalf("got %d host dirs (%v), want at least 2", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			h, err := host.Captured("windows", dir)
			if err != nil {
				t.Fatal(err)
			}
			snap := probe.Run(context.Background(), h, Probes(), probe.Options{
				AgentVersion: "dev",
				Now:          func() time.Time { return time.Time{} },
			})
			for i := range snap.Probes {
				snap.Probes[i].DurationMS = 0
			}
			gotJSON, err := json.Marshal(snap)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, err := os.ReadFile(filepath.Join(dir, "want.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(gotJSON, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(wantJSON, &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("snapshot differs from want.json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbesDeclareCommands(t *testing.T) {
	t.Parallel()
	got := probe.Commands(Probes())
	want := []string{"manage-bde -status", host.CommandLine("powershell", psArgs(psBitLocker)...), "systeminfo", "wmic qfe"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
