package hardware

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// TestProbeLive runs the probe on the machine running the tests and checks
// it against what the kernel says, read here independently.
func TestProbeLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("live probe needs Linux")
	}
	hw, st := runProbe(t, host.Live("linux"))
	if st.Status != wire.ProbeOK {
		t.Errorf("got status %+v, want ok", st)
	}

	// Memory equals MemTotal.
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var memTotal uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			memTotal = kb * 1024
		}
	}
	if hw.MemoryBytes != memTotal {
		t.Errorf("got memory %d, want MemTotal %d", hw.MemoryBytes, memTotal)
	}

	// NICs are the interfaces with a device link, with their addresses.
	var want []wire.NIC
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		dir := "/sys/class/net/" + e.Name()
		if _, err := os.Stat(dir + "/device"); err != nil {
			continue
		}
		addr, err := os.ReadFile(dir + "/address")
		if err != nil || strings.TrimSpace(string(addr)) == "00:00:00:00:00:00" {
			continue
		}
		if _, err := os.Stat(dir + "/bonding_slave"); err == nil {
			t.Skip("bonded NIC: address differs from the permanent one")
		}
		want = append(want, wire.NIC{Name: e.Name(), MAC: strings.ToLower(strings.TrimSpace(string(addr)))})
	}
	slices.SortFunc(want, func(a, b wire.NIC) int { return strings.Compare(a.Name, b.Name) })
	if !slices.Equal(hw.NICs, want) {
		t.Errorf("got NICs %v, want %v", hw.NICs, want)
	}

	if name, err := os.Hostname(); err == nil && hw.Hostname != name {
		t.Errorf("got hostname %q, want %q", hw.Hostname, name)
	}
	if hw.CPU == nil || hw.CPU.Threads < 1 || hw.CPU.Model == "" {
		t.Errorf("got CPU %+v, want model and threads", hw.CPU)
	}
	for _, d := range hw.Disks {
		b, err := os.ReadFile("/sys/block/" + d.Name + "/size")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if d.SizeBytes != n*512 {
			t.Errorf("disk %s: got size %d, want %d", d.Name, d.SizeBytes, n*512)
		}
	}
	if _, err := os.Stat("/sys/class/dmi/id"); os.IsNotExist(err) {
		// A machine without SMBIOS (this project's Firecracker build VM).
		if r := hw.Unknown["system_serial"]; !strings.HasPrefix(r, noDMI) {
			t.Errorf("got system_serial reason %q, want it to start with %q", r, noDMI)
		}
		if hw.SystemSerial != "" || hw.Vendor != "" {
			t.Errorf("got serial %q vendor %q without DMI", hw.SystemSerial, hw.Vendor)
		}
	}
	if hw.Virtual == "" {
		t.Error("got no virtual answer, want yes, no or unknown")
	}
}
