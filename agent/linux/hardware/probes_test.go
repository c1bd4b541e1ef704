package hardware

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

var dellFiles = []string{
	"bios_date", "bios_release", "bios_vendor", "bios_version", "board_name", "board_serial",
	"board_vendor", "board_version", "chassis_asset_tag", "chassis_serial", "chassis_type",
	"chassis_vendor", "chassis_version", "modalias", "product_family", "product_name",
	"product_serial", "product_sku", "product_uuid", "product_version", "sys_vendor", "uevent",
}

// dellTree lays the real Dell PowerEdge R6515 /sys/class/dmi/id files into
// a host root.
func dellTree(t *testing.T, dir string) {
	for _, f := range dellFiles {
		copyFixture(t, dir, "sysfs-dmi/dell-poweredge-r6515/"+f, "sys/class/dmi/id/"+f)
	}
}

// firecrackerTree lays this build machine's captures (/proc files and the
// sysfs archives) into a host root.
func firecrackerTree(t *testing.T, dir string) {
	copyFixture(t, dir, "proc/firecracker-debian12-cpuinfo", "proc/cpuinfo")
	copyFixture(t, dir, "proc/firecracker-debian12-meminfo", "proc/meminfo")
	copyFixture(t, dir, "proc/firecracker-debian12-hostname", "proc/sys/kernel/hostname")
	copyFixture(t, dir, "proc/firecracker-debian12-arch", "proc/sys/kernel/arch")
	untarFixture(t, dir, "sysfs-block/firecracker-debian12.tar")
	untarFixture(t, dir, "sysfs-net/firecracker-debian12.tar")
	untarFixture(t, dir, "sysfs-cpu/firecracker-debian12.tar")
}

// dmidecodeOutput makes dmidecode answer with a real capture.
func dmidecodeOutput(t *testing.T, dir, file string) {
	copyFixture(t, dir, "dmidecode/"+file, "commands/dmidecode.out")
}

// denyFS refuses the listed paths as a non-root reader of the mode-0400
// sysfs files is refused.
type denyFS struct {
	fs.FS
	deny map[string]bool
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}

func runProbe(t *testing.T, h *host.Host) (*wire.Hardware, wire.ProbeStatus) {
	t.Helper()
	snap := probe.Run(context.Background(), h, Probes(), probe.Options{})
	if len(snap.Probes) != 1 {
		t.Fatalf("got %d probe statuses, want 1", len(snap.Probes))
	}
	if snap.Hardware == nil {
		t.Fatalf("no hardware section; status %+v", snap.Probes[0])
	}
	return snap.Hardware, snap.Probes[0]
}

func captured(t *testing.T, dir string) *host.Host {
	t.Helper()
	h, err := host.Captured("linux", dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const noDMI = noTable + "; /sys/class/dmi/id is absent"

// noTable is the first reason of the chain on a host without SMBIOS tables.
const noTable = "/sys/firmware/dmi/tables/smbios_entry_point is absent (kernel before 4.2, or firmware without SMBIOS)"

func TestProbeFirecracker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	firecrackerTree(t, dir)
	for _, ext := range []string{"out", "err", "exit"} {
		copyFixture(t, dir, "dmidecode/firecracker-debian12-dmidecode3.4-no-dmi."+ext, "commands/dmidecode."+ext)
	}
	hw, st := runProbe(t, captured(t, dir))
	if st.Status != wire.ProbeOK {
		t.Fatalf("got status %+v, want ok", st)
	}
	dmiReason := noDMI + "; dmidecode found no SMBIOS/DMI tables"
	want := &wire.Hardware{
		Hostname:   "vm",
		FormFactor: "vm",
		Virtual:    wire.Yes,
		CPU: &wire.CPU{
			Model: "AMD EPYC", Vendor: "AMD", Sockets: 1, Cores: 2, Threads: 2, Arch: "x86_64",
		},
		MemoryBytes: 24684092 * 1024,
		Disks: []wire.Disk{{
			Name: "vda", Serial: "OVERLAYBLK", SizeBytes: 536870912 * 512,
			Media: wire.MediaHDD, Bus: "virtio",
		}},
		NICs: []wire.NIC{{Name: "eth0", MAC: "02:fc:00:00:00:01"}},
		Unknown: map[string]string{
			"vendor": dmiReason, "model": dmiReason, "system_serial": dmiReason, "system_uuid": dmiReason,
			"board_serial": dmiReason, "chassis_type": dmiReason, "asset_tag": dmiReason,
			"bios_vendor": dmiReason, "bios_version": dmiReason, "bios_date": dmiReason,
			"cpu.max_mhz": "no cpufreq data in /sys/devices/system/cpu/cpu*/cpufreq (usual in virtual machines)",
			"hypervisor":  "the CPU reports a hypervisor (cpuinfo flag) but there is no DMI data or /sys/hypervisor to name it",
		},
	}
	if diff := cmp.Diff(want, hw); diff != "" {
		t.Errorf("hardware (-want +got):\n%s", diff)
	}
}

func TestProbeDell(t *testing.T) {
	t.Parallel()
	rootOnly := map[string]bool{
		"sys/class/dmi/id/product_serial": true,
		"sys/class/dmi/id/product_uuid":   true,
		"sys/class/dmi/id/board_serial":   true,
		// chassis_serial is 0400 too (drivers/firmware/dmi-id.c).
		"sys/class/dmi/id/chassis_serial": true,
	}
	base := wire.Hardware{
		Vendor: "Dell Inc.", Model: "PowerEdge R6515",
		SystemSerial: "7N62AI2", SystemUUID: "83340ca8-cb49-4474-8c29-d2088ca84dd9",
		BoardSerial: ".7N62AI2.GRTCL6944100GP.", ChassisType: "Rack Mount Chassis",
		FormFactor: "server", BIOSVendor: "Dell Inc.", BIOSVersion: "2.2.4", BIOSDate: "04/12/2021",
	}
	tests := []struct {
		name      string
		nonRoot   bool
		dmidecode string
		want      func() *wire.Hardware
	}{
		{
			name: "root",
			want: func() *wire.Hardware {
				hw := base
				hw.Unknown = map[string]string{
					"asset_tag":    noTable + "; /sys/class/dmi/id/chassis_asset_tag is empty",
					"cpu":          "read /proc/cpuinfo: open proc/cpuinfo: no such file or directory",
					"memory_bytes": "read /proc/meminfo: open proc/meminfo: no such file or directory",
					"disks":        "list /sys/block: open sys/block: no such file or directory",
					"nics":         "list /sys/class/net: open sys/class/net: no such file or directory",
					"hostname":     "read hostname: open proc/sys/kernel/hostname: no such file or directory; open etc/hostname: no such file or directory",
					"virtual":      "cannot tell whether this is a virtual machine: /proc/cpuinfo could not be read and DMI names no hypervisor",
				}
				hw.Virtual = wire.Unknown
				return &hw
			},
		},
		{
			name:    "non-root without dmidecode",
			nonRoot: true,
			want: func() *wire.Hardware {
				hw := base
				hw.SystemSerial, hw.SystemUUID, hw.BoardSerial = "", "", ""
				hw.Virtual = wire.Unknown
				hw.Unknown = map[string]string{
					"system_serial": noTable + "; /sys/class/dmi/id/product_serial: permission denied (needs root); dmidecode not installed",
					"system_uuid":   noTable + "; /sys/class/dmi/id/product_uuid: permission denied (needs root); dmidecode not installed",
					"board_serial":  noTable + "; /sys/class/dmi/id/board_serial: permission denied (needs root); dmidecode not installed",
					"asset_tag":     noTable + "; /sys/class/dmi/id/chassis_asset_tag is empty",
					"cpu":           "read /proc/cpuinfo: open proc/cpuinfo: no such file or directory",
					"memory_bytes":  "read /proc/meminfo: open proc/meminfo: no such file or directory",
					"disks":         "list /sys/block: open sys/block: no such file or directory",
					"nics":          "list /sys/class/net: open sys/class/net: no such file or directory",
					"hostname":      "read hostname: open proc/sys/kernel/hostname: no such file or directory; open etc/hostname: no such file or directory",
					"virtual":       "cannot tell whether this is a virtual machine: /proc/cpuinfo could not be read and DMI names no hypervisor",
				}
				return &hw
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dellTree(t, dir)
			if tt.dmidecode != "" {
				dmidecodeOutput(t, dir, tt.dmidecode)
			}
			h := captured(t, dir)
			if tt.nonRoot {
				h.FS = denyFS{FS: h.FS, deny: rootOnly}
			}
			hw, st := runProbe(t, h)
			if st.Status != wire.ProbeOK {
				t.Errorf("got status %+v, want ok", st)
			}
			if diff := cmp.Diff(tt.want(), hw); diff != "" {
				t.Errorf("hardware (-want +got):\n%s", diff)
			}
			if hw.Model == "" || hw.Unknown["model"] != "" {
				t.Errorf("got model %q (%s), want it read", hw.Model, hw.Unknown["model"])
			}
		})
	}
}

// TestProbeDmidecodeOnly runs the probe on hosts whose only DMI source is a
// real dmidecode capture (kernels without /sys/class/dmi/id).
func TestProbeDmidecodeOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		want       wire.Hardware
		unknownFor []string
	}{
		{
			file: "vmware-vm-dmidecode.txt",
			want: wire.Hardware{
				Vendor: "VMware, Inc.", Model: "VMware Virtual Platform",
				SystemSerial: "VMWARE-42 1A EE 9A 8E 13 EE E5-FC EC 82 3D CD 74 76 94",
				SystemUUID:   "9aee1a42-138e-e5ee-fcec-823dcd747694",
				ChassisType:  "Other", FormFactor: "vm", Virtual: wire.Yes, Hypervisor: "VMware",
				BIOSVendor: "Phoenix Technologies LTD", BIOSVersion: "6.00", BIOSDate: "12/12/2018",
			},
			unknownFor: []string{"board_serial", "asset_tag"},
		},
		{
			file: "virtualbox-vm-dmidecode3.1.txt",
			want: wire.Hardware{
				Vendor: "innotek GmbH", Model: "VirtualBox",
				SystemUUID:  "784198ec-5827-476e-9e24-b0e98e8958f5",
				ChassisType: "Other", FormFactor: "vm", Virtual: wire.Yes, Hypervisor: "VirtualBox",
				BIOSVendor: "innotek GmbH", BIOSVersion: "VirtualBox", BIOSDate: "12/01/2006",
			},
			unknownFor: []string{"system_serial", "board_serial", "asset_tag"},
		},
		{
			file: "hp-z420-workstation-dmidecode.txt",
			want: wire.Hardware{
				Vendor: "Hewlett-Packard", Model: "HP Z420 Workstation",
				SystemSerial: "2UA25107BB", SystemUUID: "4596bf80-41f0-11e2-a3b4-10604b5c7f38",
				BoardSerial: "2UA25107BB", AssetTag: "2UA25107BB",
				ChassisType: "Mini Tower", FormFactor: "desktop", Virtual: wire.Unknown,
				BIOSVendor: "Hewlett-Packard", BIOSVersion: "J61 v02.08", BIOSDate: "10/17/2012",
			},
			unknownFor: []string{"virtual"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dmidecodeOutput(t, dir, tt.file)
			hw, st := runProbe(t, captured(t, dir))
			if st.Status != wire.ProbeOK {
				t.Errorf("got status %+v, want ok", st)
			}
			got := *hw
			got.Unknown = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hardware (-want +got):\n%s", diff)
			}
			for _, f := range tt.unknownFor {
				if hw.Unknown[f] == "" {
					t.Errorf("got no unknown reason for %s", f)
				}
			}
			for _, f := range []string{"system_serial", "system_uuid", "vendor", "model", "bios_version"} {
				if r := hw.Unknown[f]; r != "" && r[:len(noDMI)] != noDMI {
					t.Errorf("%s: got reason %q, want it to start with %q", f, r, noDMI)
				}
			}
		})
	}
}

// TestProbeDmidecodeFails checks that an unexpected dmidecode failure marks
// the probe failed but keeps what sysfs gave.
func TestProbeDmidecodeFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	firecrackerTree(t, dir)
	// The real capture, but with an exit code and stderr no known cause
	// explains: the probe must not hide that.
	copyFixture(t, dir, "dmidecode/firecracker-debian12-dmidecode3.4-no-dmi.out", "commands/dmidecode.out")
	copyFixture(t, dir, "dmidecode/firecracker-debian12-dmidecode3.4-no-dmi.exit", "commands/dmidecode.exit")
	if err := os.WriteFile(filepath.Join(dir, "commands", "dmidecode.err"), []byte("Bad address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hw, st := runProbe(t, captured(t, dir))
	if st.Status != wire.ProbeError || st.Message != "run dmidecode: dmidecode: exit status 1: Bad address" {
		t.Errorf("got status %+v, want error from dmidecode", st)
	}
	if hw.MemoryBytes != 24684092*1024 || len(hw.NICs) != 1 {
		t.Errorf("got memory %d, NICs %v, want them kept", hw.MemoryBytes, hw.NICs)
	}
	if got, want := hw.Unknown["system_serial"], noDMI+"; dmidecode failed: Bad address"; got != want {
		t.Errorf("got reason %q, want %q", got, want)
	}
}
