// Package inventory chooses the probes for a platform and runs them. The
// per-platform lists live in linux.go, darwin.go and windows.go; those files
// deliberately carry no _GOOS suffix, because `roster-agent inventory --os
// darwin --host-root DIR` runs macOS probes on a Linux machine (that is how
// every platform's parsing is tested on Linux CI).
package inventory

import (
	"context"
	"fmt"
	"slices"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// Platforms lists the platforms that have probes.
func Platforms() []string {
	return []string{wire.PlatformLinux, wire.PlatformDarwin, wire.PlatformWindows}
}

// Probes returns the probes for a platform in the order they run.
func Probes(platform string) ([]probe.Probe, error) {
	switch platform {
	case wire.PlatformLinux:
		return linuxProbes(), nil
	case wire.PlatformDarwin:
		return darwinProbes(), nil
	case wire.PlatformWindows:
		return windowsProbes(), nil
	}
	return nil, fmt.Errorf("unknown platform %q (want one of %v)", platform, Platforms())
}

// Collect runs the platform's probes against h.
func Collect(ctx context.Context, h *host.Host, opt probe.Options) (*wire.Snapshot, error) {
	ps, err := Probes(h.OS)
	if err != nil {
		return nil, err
	}
	for _, a := range opt.Only {
		if !slices.Contains(wire.Areas(), a) {
			return nil, fmt.Errorf("unknown area %q (want some of %v)", a, wire.Areas())
		}
	}
	return probe.Run(ctx, h, ps, opt), nil
}
