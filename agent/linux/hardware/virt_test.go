package hardware

import (
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

func TestDetectVirtual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      virtInput
		virtual wire.Tri
		hv      string
		reason  bool
	}{
		// DMI strings from the dmidecode and sysfs captures in testdata.
		{"vmware", virtInput{Vendor: "VMware, Inc.", Product: "VMware Virtual Platform", BIOSVendor: "Phoenix Technologies LTD", HaveDMI: true}, wire.Yes, "VMware", false},
		{"virtualbox", virtInput{Vendor: "innotek GmbH", Product: "VirtualBox", BIOSVendor: "innotek GmbH", BIOSVersion: "VirtualBox", HaveDMI: true}, wire.Yes, "VirtualBox", false},
		{"dell with x86 flags", virtInput{Vendor: "Dell Inc.", Product: "PowerEdge R6515", BIOSVendor: "Dell Inc.", HaveDMI: true, CPUInfo: true, CPUFlags: true}, wire.No, "", false},
		{"dell without cpu flags", virtInput{Vendor: "Dell Inc.", Product: "PowerEdge R6515", HaveDMI: true, CPUInfo: true}, wire.Unknown, "", true},
		// This build machine: Firecracker, no DMI, hypervisor flag.
		{"firecracker", virtInput{CPUInfo: true, CPUFlags: true, CPUHypervisor: true}, wire.Yes, "", true},
		{"xen pv", virtInput{SysHypervisor: "xen", CPUInfo: true, CPUFlags: true}, wire.Yes, "Xen", false},
		{"ec2 nitro", virtInput{Vendor: "Amazon EC2", Product: "m5.large", HaveDMI: true, CPUInfo: true, CPUFlags: true, CPUHypervisor: true}, wire.Yes, "Amazon EC2", false},
		{"ec2 bare metal", virtInput{Vendor: "Amazon EC2", Product: "i3.metal", HaveDMI: true, CPUInfo: true, CPUFlags: true}, wire.No, "", false},
		{"hyper-v", virtInput{Vendor: "Microsoft Corporation", Product: "Virtual Machine", HaveDMI: true}, wire.Yes, "Hyper-V", false},
		{"surface is not hyper-v", virtInput{Vendor: "Microsoft Corporation", Product: "Surface Laptop 4", HaveDMI: true, CPUInfo: true, CPUFlags: true}, wire.No, "", false},
		{"qemu", virtInput{Vendor: "QEMU", Product: "Standard PC (Q35 + ICH9, 2009)", HaveDMI: true}, wire.Yes, "QEMU/KVM", false},
		{"gce", virtInput{Vendor: "Google", Product: "Google Compute Engine", HaveDMI: true}, wire.Yes, "Google Compute Engine", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, hv, why := detectVirtual(tt.in)
			if v != tt.virtual || hv != tt.hv || (why != "") != tt.reason {
				t.Errorf("got %q %q %q, want %q %q (reason %v)", v, hv, why, tt.virtual, tt.hv, tt.reason)
			}
		})
	}
}
