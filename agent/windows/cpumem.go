package windows

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// CPUMemoryFile is where a captured host keeps the processor and memory
// figures the live agent read through gopsutil, as JSON.
const CPUMemoryFile = "api/gopsutil-cpu-memory.json"

// CPUMemory is the captured form of gopsutil's mem.VirtualMemory,
// cpu.Info (one entry per processor package) and cpu.Counts, plus the
// machine's native architecture from IsWow64Process2.
type CPUMemory struct {
	MemoryTotal uint64       `json:"memory_total"`
	Packages    []CPUPackage `json:"packages"`
	// CPUInfoError is why cpu.Info failed, when it did.
	CPUInfoError  string `json:"cpu_info_error,omitempty"`
	PhysicalCores int    `json:"physical_cores"`
	LogicalCPUs   int    `json:"logical_cpus"`
	// NativeMachine is IsWow64Process2's native machine, an
	// IMAGE_FILE_MACHINE value (0x8664 x64, 0xAA64 ARM64, 0x14C x86):
	// the machine's, not the agent binary's; 0 when unknown.
	NativeMachine uint16 `json:"native_machine"`
}

// CPUPackage is one gopsutil cpu.InfoStat (a processor package on Windows).
type CPUPackage struct {
	ModelName string  `json:"model_name"`
	VendorID  string  `json:"vendor_id"`
	MaxMHz    float64 `json:"max_mhz"`
}

// ParseCPUMemory reads the captured form.
func ParseCPUMemory(b []byte) (*CPUMemory, error) {
	var c CPUMemory
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode CPU and memory figures: %w", err)
	}
	return &c, nil
}

// Wire maps the figures to the wire's CPU and memory size; a zero or
// missing figure stays absent.
func (c *CPUMemory) Wire() (*wire.CPU, uint64) {
	var cpu *wire.CPU
	if len(c.Packages) > 0 || c.LogicalCPUs > 0 {
		cpu = &wire.CPU{Sockets: len(c.Packages), Cores: c.PhysicalCores, Threads: c.LogicalCPUs}
		if len(c.Packages) > 0 {
			p := c.Packages[0]
			cpu.Model = strings.TrimSpace(p.ModelName)
			cpu.Vendor = strings.TrimSpace(p.VendorID)
			cpu.MaxMHz = int(p.MaxMHz)
		}
		cpu.Arch = map[uint16]string{0x14c: "i686", 0x1c4: "arm", 0x8664: "x86_64", 0xaa64: "aarch64"}[c.NativeMachine]
	}
	return cpu, c.MemoryTotal
}
