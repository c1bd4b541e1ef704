package identity

import (
	"regexp"
	"strings"
)

// Vendor rules: what one vendor's firmware means by its fields, applied by
// the agent on every platform that reads SMBIOS (and by the collector when
// it re-normalises), so a ThinkPad's model or a desktop's serial comes out
// the same whichever source was read.

// SystemSerial picks the serial that identifies the machine: the system
// (type 1) serial, or when that is empty or a placeholder, the chassis
// (type 3) serial, which many white-box and some OEM boards fill instead.
// source says which one was taken ("system", "chassis" or "").
func SystemSerial(system, chassis string) (serial, source string) {
	if s := Serial(system); s != "" {
		return s, "system"
	}
	if s := Serial(chassis); s != "" {
		return s, "chassis"
	}
	return "", ""
}

// lenovoMachineType matches Lenovo's Product Name: a 4-character machine
// type, optionally followed by the model and country code ("20N2CTO1WW",
// "20QTS00Y00", "82MS").
var lenovoMachineType = regexp.MustCompile(`^[0-9A-Z]{4}([0-9A-Z]{6})?$`)

// IsLenovo reports whether a manufacturer string is Lenovo's.
func IsLenovo(manufacturer string) bool {
	return strings.EqualFold(Clean(manufacturer), "lenovo")
}

// Model returns the model people know a machine by. Lenovo writes the
// machine-type code in Product Name ("20N2CTO1WW") and the marketing name
// in Version ("ThinkPad T490"); everyone else puts the model in Product
// Name. For Lenovo the marketing name is taken when Version holds one,
// with the machine type kept by MachineType.
func Model(manufacturer, product, version string) string {
	p := Text(product)
	if IsLenovo(manufacturer) && lenovoMachineType.MatchString(p) {
		if v := Text(version); v != "" && !lenovoMachineType.MatchString(v) {
			return v
		}
	}
	return p
}

// MachineType returns Lenovo's 4-character machine type ("20N2") from
// Product Name, "" for other vendors or when Product Name is not one.
func MachineType(manufacturer, product string) string {
	p := Text(product)
	if !IsLenovo(manufacturer) || !lenovoMachineType.MatchString(p) {
		return ""
	}
	return p[:4]
}

// Apple serial number formats.
const (
	// AppleSerialLegacy: 11 or 12 characters encoding factory, date and
	// model (used until 2021, e.g. "C02JQ0F5F6L9").
	AppleSerialLegacy = "legacy"
	// AppleSerialRandom: 10 random characters (from 2021).
	AppleSerialRandom = "randomized"
)

var (
	appleLegacy = regexp.MustCompile(`^[A-Z0-9]{11,12}$`)
	appleRandom = regexp.MustCompile(`^[A-Z0-9]{10}$`)
)

// AppleSerialFormat names the format of an Apple system serial, "" when it
// has neither shape (a placeholder, a logic-board serial of 17 characters,
// or not Apple's at all). Apple uses no vowels-free alphabet rule we can
// rely on, so only the length and character set are checked.
func AppleSerialFormat(s string) string {
	c := Serial(s)
	switch {
	case appleLegacy.MatchString(c):
		return AppleSerialLegacy
	case appleRandom.MatchString(c):
		return AppleSerialRandom
	}
	return ""
}

// hypervisors maps SMBIOS strings to the hypervisor they reveal. An entry
// matches when every non-empty pattern is a case-insensitive substring of
// its field; the first match wins.
var hypervisors = []struct {
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

// Hypervisor names the hypervisor that the raw SMBIOS system manufacturer,
// product name and BIOS vendor/version reveal, "" when they name none
// (a physical machine, or a hypervisor that hides itself).
func Hypervisor(manufacturer, product, bios string) string {
	// EC2 bare-metal instances carry the Amazon EC2 vendor on real
	// hardware; their instance type ends in ".metal".
	if strings.HasSuffix(strings.TrimSpace(product), ".metal") {
		return ""
	}
	for _, m := range hypervisors {
		if m.vendor != "" && !containsFold(manufacturer, m.vendor) ||
			m.product != "" && !containsFold(product, m.product) ||
			m.bios != "" && !containsFold(bios, m.bios) {
			continue
		}
		return m.name
	}
	return ""
}
