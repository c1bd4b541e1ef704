package hardware

import (
	"strings"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// virtInput is what virtualisation detection looks at.
type virtInput struct {
	// Vendor, Product and BIOSVendor, BIOSVersion are the raw DMI strings
	// (before identity drops placeholders).
	Vendor, Product, BIOSVendor, BIOSVersion string
	// HaveDMI is true when some DMI data was read.
	HaveDMI bool
	// SysHypervisor is /sys/hypervisor/type ("xen"), "" when absent.
	SysHypervisor string
	// CPUInfo is true when /proc/cpuinfo was read; CPUFlags when it lists
	// x86 flags, CPUHypervisor when one of them is "hypervisor".
	CPUInfo, CPUFlags, CPUHypervisor bool
}

// dmiHypervisor names the hypervisor the DMI strings reveal, "" for none;
// the vendor table is shared/identity's, so Windows and Linux agree.
func dmiHypervisor(in virtInput) string {
	return identity.Hypervisor(in.Vendor, in.Product, in.BIOSVendor+" "+in.BIOSVersion)
}

// detectVirtual decides whether the machine is virtual. It answers No
// only when the CPU flags are there to say so; reason explains Unknown
// answers and unnamed hypervisors.
func detectVirtual(in virtInput) (virtual wire.Tri, hypervisor, reason string) {
	if name := dmiHypervisor(in); name != "" {
		return wire.Yes, name, ""
	}
	sysHV := strings.TrimSpace(in.SysHypervisor)
	switch strings.ToLower(sysHV) {
	case "":
	case "xen":
		return wire.Yes, "Xen", ""
	default:
		return wire.Yes, sysHV, ""
	}
	if in.CPUHypervisor {
		why := "the CPU reports a hypervisor (cpuinfo flag) but neither DMI nor /sys/hypervisor names it"
		if !in.HaveDMI {
			why = "the CPU reports a hypervisor (cpuinfo flag) but there is no DMI data or /sys/hypervisor to name it"
		}
		return wire.Yes, "", why
	}
	if in.CPUFlags {
		return wire.No, "", ""
	}
	if !in.CPUInfo {
		return wire.Unknown, "", "cannot tell whether this is a virtual machine: /proc/cpuinfo could not be read and DMI names no hypervisor"
	}
	return wire.Unknown, "", "cannot tell whether this is a virtual machine: no hypervisor cpu flag on this architecture and DMI names no hypervisor"
}
