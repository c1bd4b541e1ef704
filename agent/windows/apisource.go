package windows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// apiSource returns the captured form of an in-process API source: on the
// live machine it calls live, encodes the result as JSON and, under
// --capture, stores it at file in the capture; on a captured host it reads
// file. Either way the caller parses the same bytes with the same pure
// code. A captured host without the file yields an error matching
// fs.ErrNotExist.
func apiSource[T any](ctx context.Context, h *host.Host, file string, live func(context.Context) (T, error)) ([]byte, error) {
	if !h.Live {
		return h.ReadFile("/" + file)
	}
	v, err := live(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", file, err)
	}
	host.RecordData(h, file, append(b, '\n'))
	return b, nil
}

func collectNICs(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	b, err := apiSource(ctx, h, AdaptersFile, LiveAdapters)
	if errors.Is(err, fs.ErrNotExist) {
		hw.Unknown["nics"] = "captured host has no " + AdaptersFile + " (GetAdaptersAddresses was not recorded)"
		return probe.NotApplicable("no %s on this captured host", AdaptersFile)
	}
	if err != nil {
		hw.Unknown["nics"] = "GetAdaptersAddresses failed: " + err.Error()
		return fmt.Errorf("list network adapters: %w", err)
	}
	as, err := ParseAdapters(b)
	if err != nil {
		hw.Unknown["nics"] = "adapter list not understood: " + err.Error()
		return fmt.Errorf("parse %s: %w", AdaptersFile, err)
	}
	nics, skipped := PhysicalNICs(as)
	hw.NICs = nics
	if len(nics) == 0 {
		hw.Unknown["nics"] = fmt.Sprintf("none of the %d network adapters is physical (%s)", len(as), summarise(skipped))
	}
	return nil
}

func collectDisks(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	b, err := apiSource(ctx, h, DrivesFile, LiveDrives)
	if errors.Is(err, fs.ErrNotExist) {
		hw.Unknown["disks"] = "captured host has no " + DrivesFile + " (the physical drives were not recorded)"
		return probe.NotApplicable("no %s on this captured host", DrivesFile)
	}
	if err != nil {
		hw.Unknown["disks"] = "querying the physical drives failed: " + err.Error()
		return fmt.Errorf("query physical drives: %w", err)
	}
	ds, err := ParseDrives(b)
	if err != nil {
		hw.Unknown["disks"] = "drive list not understood: " + err.Error()
		return fmt.Errorf("parse %s: %w", DrivesFile, err)
	}
	disks, failed := Disks(ds)
	hw.Disks = disks
	if len(failed) > 0 {
		reason := "could not query " + summarise(failed)
		if len(disks) == 0 {
			hw.Unknown["disks"] = reason
			return errors.New(reason)
		}
		hw.Unknown["disks_incomplete"] = reason
	} else if len(disks) == 0 {
		hw.Unknown["disks"] = "no physical drive found"
	}
	return nil
}

// summarise lists "name: reason" pairs in name order.
func summarise(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + m[k]
	}
	return strings.Join(parts, "; ")
}

func collectUpdates(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := &wire.OS{Unknown: map[string]string{}}
	s.OS = o
	b, err := apiSource(ctx, h, WindowsUpdateFile, LiveWindowsUpdate)
	if errors.Is(err, fs.ErrNotExist) {
		reason := "captured host has no " + WindowsUpdateFile + " (the Windows Update Agent was not queried)"
		o.Unknown["pending_updates"], o.Unknown["pending_security_updates"] = reason, reason
		return probe.NotApplicable("no %s on this captured host", WindowsUpdateFile)
	}
	if err != nil {
		reason := "Windows Update Agent query failed: " + err.Error()
		o.Unknown["pending_updates"], o.Unknown["pending_security_updates"] = reason, reason
		return fmt.Errorf("query Windows Update Agent: %w", err)
	}
	r, err := ParseWUAResult(b)
	if err != nil {
		reason := "Windows Update result not understood: " + err.Error()
		o.Unknown["pending_updates"], o.Unknown["pending_security_updates"] = reason, reason
		return fmt.Errorf("parse %s: %w", WindowsUpdateFile, err)
	}
	facts, unknown := WUAFacts(r)
	*o = facts
	o.Unknown = unknown
	if r.SearchError != "" {
		return fmt.Errorf("search Windows Update: %s", r.SearchError)
	}
	return nil
}

// collectCPUMemory reads memory and processors through gopsutil on the
// live machine. On a captured host without the figures it does not apply:
// the hardware probe reads the same facts from systeminfo.
func collectCPUMemory(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	b, err := apiSource(ctx, h, CPUMemoryFile, LiveCPUMemory)
	if errors.Is(err, fs.ErrNotExist) {
		return probe.NotApplicable("no %s on this captured host", CPUMemoryFile)
	}
	if err != nil {
		return fmt.Errorf("read CPU and memory figures: %w", err)
	}
	c, err := ParseCPUMemory(b)
	if err != nil {
		return fmt.Errorf("parse %s: %w", CPUMemoryFile, err)
	}
	hw := &wire.Hardware{}
	hw.CPU, hw.MemoryBytes = c.Wire()
	s.Hardware = hw
	return nil
}
