package hardware

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// cpuInfo is what /proc/cpuinfo says about the processors.
type cpuInfo struct {
	// Processors counts the "processor" entries: online logical CPUs.
	Processors int
	Model      string
	// VendorID is the raw CPUID vendor string ("GenuineIntel").
	VendorID string
	// Flags is true when the file has x86 "flags" lines, so the absence
	// of the hypervisor flag means something.
	Flags bool
	// Hypervisor is true when the "hypervisor" CPU flag is set: the
	// kernel runs under a hypervisor.
	Hypervisor bool
	// LongMode is the x86 "lm" flag: a 64-bit capable CPU.
	LongMode bool
	// Sockets and Cores are counted from "physical id" and
	// "physical id"+"core id"; 0 when the file has no topology (most
	// non-x86 kernels).
	Sockets int
	Cores   int
}

// parseCPUInfo parses /proc/cpuinfo. It understands the x86 layout and
// takes the model from the other architectures' keys where present.
func parseCPUInfo(r io.Reader) (cpuInfo, error) {
	var ci cpuInfo
	type core struct{ pkg, id string }
	pkgs := map[string]bool{}
	cores := map[core]bool{}
	var pkg, coreID string
	topo := true
	flush := func() {
		if pkg == "" || coreID == "" {
			topo = false
		} else {
			pkgs[pkg] = true
			cores[core{pkg, coreID}] = true
		}
		pkg, coreID = "", ""
	}
	inCPU := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		switch key {
		case "processor":
			if inCPU {
				flush()
			}
			inCPU = true
			ci.Processors++
		case "model name", "cpu model":
			// x86 and arm64 with CPU names (model name), MIPS (cpu model).
			if ci.Model == "" {
				ci.Model = val
			}
		case "cpu":
			// powerpc: "cpu : POWER9 (raw), altivec supported".
			if ci.Model == "" {
				ci.Model = val
			}
		case "vendor_id":
			if ci.VendorID == "" {
				ci.VendorID = val
			}
		case "physical id":
			pkg = val
		case "core id":
			coreID = val
		case "flags":
			ci.Flags = true
			for f := range strings.FieldsSeq(val) {
				switch f {
				case "hypervisor":
					ci.Hypervisor = true
				case "lm":
					ci.LongMode = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ci, fmt.Errorf("read cpuinfo: %w", err)
	}
	if inCPU {
		flush()
	}
	if topo && len(cores) > 0 {
		ci.Sockets = len(pkgs)
		ci.Cores = len(cores)
	}
	return ci, nil
}

// cpuVendors turns CPUID vendor strings into the maker's name.
var cpuVendors = map[string]string{
	"GenuineIntel": "Intel",
	"AuthenticAMD": "AMD",
	"HygonGenuine": "Hygon",
	"CentaurHauls": "Centaur",
	"Shanghai":     "Zhaoxin",
	"IBM/S390":     "IBM",
}

// vendorName is the maker's name for a CPUID vendor string, or the string
// itself when it is not a known one.
func vendorName(id string) string {
	if v, ok := cpuVendors[id]; ok {
		return v
	}
	return id
}
