package hardware

import (
	"strings"

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

// dmiHypervisors maps DMI strings to the hypervisor they reveal. Each
// entry matches when every non-empty pattern is a case-insensitive
// substring of its field; the first match wins.
var dmiHypervisors = []struct {
	vendor, product, bios string
	name                  string
}{
	{product: "VMware", name: "VMware"},
	{vendor: "VMware", name: "VMware"},
	{product: "VirtualBox", name: "VirtualBox"},
	{vendor: "innotek", name: "VirtualBox"},
	{vendor: "Microsoft Corporation", product: "Virtual Machine", name: "Hyper-V"},
	{vendor: "Parallels", name: "Parallels"},
	{product: "Parallels", name: "Parallels"},
	{vendor: "Amazon EC2", name: "Amazon EC2"},
	{bios: "Amazon EC2", name: "Amazon EC2"},
	{vendor: "Google", product: "Google Compute Engine", name: "Google Compute Engine"},
	{product: "OpenStack", name: "OpenStack"},
	{vendor: "QEMU", name: "QEMU/KVM"},
	{product: "KVM", name: "QEMU/KVM"},
	{product: "QEMU", name: "QEMU/KVM"},
	{vendor: "Bochs", name: "Bochs"},
	{vendor: "Xen", name: "Xen"},
	{product: "HVM domU", name: "Xen"},
	{vendor: "Nutanix", product: "AHV", name: "Nutanix AHV"},
	{product: "oVirt", name: "oVirt"},
	{product: "RHEV Hypervisor", name: "oVirt"},
	{vendor: "Red Hat", product: "KVM", name: "QEMU/KVM"},
	{vendor: "DigitalOcean", name: "DigitalOcean"},
	{vendor: "Alibaba Cloud", name: "Alibaba Cloud ECS"},
	{product: "Apple Virtualization", name: "Apple Virtualization"},
	{vendor: "BHYVE", name: "bhyve"},
	{bios: "BHYVE", name: "bhyve"},
	{product: "KubeVirt", name: "KubeVirt"},
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// dmiHypervisor names the hypervisor the DMI strings reveal, "" for none.
func dmiHypervisor(in virtInput) string {
	bios := in.BIOSVendor + " " + in.BIOSVersion
	// EC2 bare-metal instances carry the Amazon EC2 vendor on real
	// hardware; their instance type ends in ".metal".
	if strings.HasSuffix(strings.TrimSpace(in.Product), ".metal") {
		return ""
	}
	for _, m := range dmiHypervisors {
		if m.vendor != "" && !containsFold(in.Vendor, m.vendor) ||
			m.product != "" && !containsFold(in.Product, m.product) ||
			m.bios != "" && !containsFold(bios, m.bios) {
			continue
		}
		return m.name
	}
	return ""
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
