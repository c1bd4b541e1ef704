package windows

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

func TestCPUMemoryWineCapture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/hosts/wine8-debian12-firecracker/api/gopsutil-cpu-memory.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCPUMemory(b)
	if err != nil {
		t.Fatal(err)
	}
	cpu, memory := c.Wire()
	// This 2-vCPU, 24 GiB VM; gopsutil's cpu.Info failed under Wine, so
	// there is no model, only counts.
	if diff := cmp.Diff(&wire.CPU{Cores: 2, Threads: 2, Arch: "x86_64"}, cpu); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if memory != 25276153856 {
		t.Errorf("memory %d, want 25276153856", memory)
	}
}

// TestCPUMemoryWire covers what Wine cannot show: packages from cpu.Info
// (values shaped as gopsutil returns them on Windows, not captured) and an
// unknown architecture.
func TestCPUMemoryWire(t *testing.T) {
	t.Parallel()
	c := &CPUMemory{
		MemoryTotal:   34359738368,
		Packages:      []CPUPackage{{ModelName: "13th Gen Intel(R) Core(TM) i7-1365U ", VendorID: "GenuineIntel", MaxMHz: 1800}},
		PhysicalCores: 10, LogicalCPUs: 12, NativeMachine: 0xaa64,
	}
	cpu, memory := c.Wire()
	want := &wire.CPU{Model: "13th Gen Intel(R) Core(TM) i7-1365U", Vendor: "GenuineIntel", Sockets: 1, Cores: 10, Threads: 12, Arch: "aarch64", MaxMHz: 1800}
	if diff := cmp.Diff(want, cpu); diff != "" || memory != 34359738368 {
		t.Errorf("memory %d; (-want +got):\n%s", memory, diff)
	}
	if cpu, memory := (&CPUMemory{}).Wire(); cpu != nil || memory != 0 {
		t.Errorf("empty figures gave %+v, %d", cpu, memory)
	}
}

func FuzzParseCPUMemory(f *testing.F) {
	seedFiles(f, "testdata/hosts/*/api/gopsutil-cpu-memory.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseCPUMemory(b); err == nil {
			c.Wire()
		}
	})
}
