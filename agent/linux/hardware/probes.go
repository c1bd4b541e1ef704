// Package hardware is the Linux hardware-identity probe: system, board,
// chassis and BIOS identity from the kernel's SMBIOS table
// (/sys/firmware/dmi/tables, decoded by agent/smbios), then
// /sys/class/dmi/id, then `dmidecode` in any layout for what is still
// missing, with shared/identity's vendor rules applied at the end; the CPU from /proc/cpuinfo and
// /sys/devices/system/cpu, memory from /proc/meminfo, disks from
// /sys/block, physical NICs from /sys/class/net, and whether the machine
// is virtual. Everything is read through host.Host, so a captured host
// tree runs the same code as the live machine; every identifier goes
// through shared/identity so placeholders never reach the report.
package hardware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{probe.Func{
		ProbeName: "hardware",
		ProbeArea: wire.AreaHardware,
		Cmds:      []string{"dmidecode"},
		Fn:        collect,
	}}
}

// collect fills s.Hardware. Facts it cannot read go into Unknown; it
// returns an error (after filling what it could) only for failures that
// are not explained by the host simply lacking the source.
func collect(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	var errs []error
	note := func(field string, err error) {
		hw.Unknown[field] = err.Error()
		if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}

	hostname, err := readHostname(h)
	if err != nil {
		note("hostname", err)
	}
	hw.Hostname = hostname

	// The chain: the kernel's SMBIOS table, then /sys/class/dmi/id, then
	// dmidecode, each asked only for what the ones before left missing.
	d := newDMIResult()
	readTable(h, d)
	readSysfsDMI(h, d)
	if err := runDmidecode(ctx, h, d); err != nil {
		errs = append(errs, err)
	}
	d.applyVendorRules()
	applyDMI(hw, d)

	ci, cpuErr := readCPUInfo(h)
	if cpuErr != nil {
		note("cpu", cpuErr)
	} else {
		hw.CPU = cpuFacts(h, ci, hw.Unknown)
	}

	if mem, err := readMemTotal(h); err != nil {
		note("memory_bytes", err)
	} else {
		hw.MemoryBytes = mem
	}

	if disks, err := readDisks(h); err != nil {
		note("disks", err)
	} else {
		hw.Disks = disks
	}
	if nics, err := readNICs(h); err != nil {
		note("nics", err)
	} else {
		hw.NICs = nics
	}

	sysHV, _ := h.ReadString("/sys/hypervisor/type")
	virtual, hv, why := detectVirtual(virtInput{
		Vendor:        d.Raw[fieldVendor],
		Product:       d.Raw[fieldModel],
		BIOSVendor:    d.Raw[fieldBIOSVendor],
		BIOSVersion:   d.Raw[fieldBIOSVersion],
		HaveDMI:       len(d.Raw) > 0,
		SysHypervisor: sysHV,
		CPUInfo:       cpuErr == nil,
		CPUFlags:      cpuErr == nil && ci.Flags,
		CPUHypervisor: cpuErr == nil && ci.Hypervisor,
	})
	hw.Virtual, hw.Hypervisor = virtual, hv
	if why != "" {
		// The reason goes with the field that is unknown: whether this is
		// a VM at all, or only which hypervisor it runs on.
		if virtual == wire.Unknown {
			hw.Unknown["virtual"] = why
		} else {
			hw.Unknown["hypervisor"] = why
		}
	}
	hw.FormFactor = formFactorOf(hw, d)

	if len(hw.Unknown) == 0 {
		hw.Unknown = nil
	}
	return errors.Join(errs...)
}

// formFactorOf classes the machine; a virtual machine is "vm" whatever
// chassis its firmware pretends to be.
func formFactorOf(hw *wire.Hardware, d *dmiResult) string {
	if hw.Virtual == wire.Yes {
		return formVM
	}
	c, ok := parseChassisType(d.Raw[fieldChassisType])
	if !ok {
		hw.Unknown["form_factor"] = "chassis type unknown"
		return ""
	}
	f := c.formFactor()
	if f == "" {
		hw.Unknown["form_factor"] = fmt.Sprintf("firmware reports chassis type %q", c.Name)
	}
	return f
}

// readHostname reads the kernel's hostname, falling back to /etc/hostname
// for captured trees without /proc.
func readHostname(h *host.Host) (string, error) {
	s, err := h.ReadString("/proc/sys/kernel/hostname")
	if err == nil && s != "" {
		return s, nil
	}
	b, err2 := h.ReadFileLimit("/etc/hostname", 4096)
	if err2 != nil {
		if err == nil {
			err = errors.New("/proc/sys/kernel/hostname is empty")
		}
		return "", fmt.Errorf("read hostname: %w; %w", err, err2)
	}
	return identity.Clean(firstLine(string(b))), nil
}

func readCPUInfo(h *host.Host) (cpuInfo, error) {
	b, err := h.ReadFileLimit("/proc/cpuinfo", 16<<20)
	if err != nil {
		return cpuInfo{}, fmt.Errorf("read /proc/cpuinfo: %w", err)
	}
	ci, err := parseCPUInfo(bytes.NewReader(b))
	if err != nil {
		return ci, fmt.Errorf("parse /proc/cpuinfo: %w", err)
	}
	return ci, nil
}

func readMemTotal(h *host.Host) (uint64, error) {
	b, err := h.ReadFileLimit("/proc/meminfo", 1<<20)
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	m, err := parseMeminfo(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("parse /proc/meminfo: %w", err)
	}
	total, ok := m["MemTotal"]
	if !ok || total == 0 {
		return 0, errors.New("/proc/meminfo has no MemTotal")
	}
	return total, nil
}

const cpuDir = "/sys/devices/system/cpu"

// cpuFacts completes what cpuinfo says with sysfs: topology where cpuinfo
// has none, the maximum frequency, the architecture.
func cpuFacts(h *host.Host, ci cpuInfo, unknown map[string]string) *wire.CPU {
	c := &wire.CPU{
		Model:   identity.Text(ci.Model),
		Vendor:  identity.Text(vendorName(ci.VendorID)),
		Threads: ci.Processors,
		Sockets: ci.Sockets,
		Cores:   ci.Cores,
	}
	cpus := sysfsCPUs(h)
	if c.Sockets == 0 || c.Cores == 0 {
		c.Sockets, c.Cores = sysfsTopology(h, cpus)
		if c.Sockets == 0 {
			unknown["cpu.sockets"] = "neither /proc/cpuinfo nor " + cpuDir + " gives the CPU topology"
			unknown["cpu.cores"] = unknown["cpu.sockets"]
		}
	}
	if c.Threads == 0 {
		c.Threads = len(cpus)
	}
	maxKHz := 0
	for _, cpu := range cpus {
		s, err := h.ReadString(cpuDir + "/" + cpu + "/cpufreq/cpuinfo_max_freq")
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(s); err == nil && n > maxKHz {
			maxKHz = n
		}
	}
	if maxKHz > 0 {
		c.MaxMHz = (maxKHz + 500) / 1000
	} else {
		unknown["cpu.max_mhz"] = "no cpufreq data in " + cpuDir + "/cpu*/cpufreq (usual in virtual machines)"
	}
	c.Arch = readArch(h, ci)
	if c.Arch == "" {
		unknown["cpu.arch"] = "/proc/sys/kernel/arch is absent and /proc/cpuinfo does not tell"
	}
	return c
}

// sysfsCPUs lists the cpuN directories of /sys/devices/system/cpu.
func sysfsCPUs(h *host.Host) []string {
	ents, err := h.ReadDir(cpuDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "cpu")
		if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

// sysfsTopology counts packages and cores from each CPU's topology
// directory; zeros when any CPU lacks it.
func sysfsTopology(h *host.Host, cpus []string) (sockets, cores int) {
	type core struct{ pkg, id string }
	pkgs := map[string]bool{}
	cs := map[core]bool{}
	for _, cpu := range cpus {
		dir := cpuDir + "/" + cpu + "/topology/"
		pkg, err1 := h.ReadString(dir + "physical_package_id")
		id, err2 := h.ReadString(dir + "core_id")
		if err1 != nil || err2 != nil {
			// Offline CPUs have no topology; the online ones still count.
			if !h.Exists(cpuDir + "/" + cpu + "/topology") {
				continue
			}
			return 0, 0
		}
		pkgs[pkg] = true
		cs[core{pkg, id}] = true
	}
	return len(pkgs), len(cs)
}

// readArch gives the kernel's machine architecture (uname -m).
func readArch(h *host.Host, ci cpuInfo) string {
	if s, err := h.ReadString("/proc/sys/kernel/arch"); err == nil && s != "" {
		return s
	}
	if ci.LongMode {
		return "x86_64"
	}
	return ""
}
