//go:build windows

package windows

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	"golang.org/x/sys/windows"
)

// LiveCPUMemory reads memory and processors through gopsutil v4, which
// wraps GlobalMemoryStatusEx, GetLogicalProcessorInformationEx and the
// CentralProcessor registry keys (no WMI).
func LiveCPUMemory(ctx context.Context) (*CPUMemory, error) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read memory size: %w", err)
	}
	c := &CPUMemory{MemoryTotal: vm.Total}
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		c.CPUInfoError = err.Error()
	}
	for _, i := range infos {
		c.Packages = append(c.Packages, CPUPackage{ModelName: i.ModelName, VendorID: i.VendorID, MaxMHz: i.Mhz})
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		c.PhysicalCores = n
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		c.LogicalCPUs = n
	}
	var process, native uint16
	if err := windows.IsWow64Process2(windows.CurrentProcess(), &process, &native); err == nil {
		c.NativeMachine = native
	}
	return c, nil
}
