package osinfo

import (
	"bytes"
	"cmp"
	"context"
	"os/exec"
	"runtime"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// TestNativeAptMatchesAptGetLive compares the native reader with apt-get's
// own simulation on the machine the test runs on: the same packages, the
// same versions, the same security flags.
func TestNativeAptMatchesAptGetLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("apt runs on Linux")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no apt-get on this machine")
	}
	ctx := context.Background()
	h := host.Live("linux")
	res, err := nativeAptPending(ctx, h)
	if err != nil {
		t.Fatalf("native apt reader: %v", err)
	}
	out, err := h.Run(ctx, "apt-get", aptArgs...)
	if err != nil {
		t.Fatalf("apt-get simulation: %v", err)
	}
	want, err := ParseAptSimulation(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Unknown != "" {
		if len(want) > 0 {
			t.Fatalf("native reader says unknown (%s), apt-get lists %d updates", res.Unknown, len(want))
		}
		t.Skipf("native reader says unknown: %s", res.Unknown)
	}
	if res.Fallback != "" {
		// Legitimate when apt would install or remove packages; say so
		// rather than pass silently.
		t.Skipf("native reader leaves this machine to apt-get: %s", res.Fallback)
	}
	sortPending(want)
	wantSec := 0
	for _, p := range want {
		if p.Security {
			wantSec++
		}
	}
	if diff := gocmp.Diff(want, res.Pending); diff != "" {
		t.Errorf("pending updates (-apt-get +native):\n%s", diff)
	}
	if res.Security != wantSec {
		t.Errorf("security updates: got %d, want %d (apt-get)", res.Security, wantSec)
	}
	t.Logf("%d pending, %d security, as apt-get says", len(res.Pending), res.Security)
}

func sortPending(p []wire.PendingUpdate) {
	slices.SortFunc(p, func(a, b wire.PendingUpdate) int { return cmp.Compare(a.Name, b.Name) })
}
