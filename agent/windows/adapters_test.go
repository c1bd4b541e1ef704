package windows

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

func TestPhysicalNICsWineCapture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/api/wine8-debian12-firecracker-GetAdaptersAddresses.json")
	if err != nil {
		t.Fatal(err)
	}
	as, err := ParseAdapters(b)
	if err != nil {
		t.Fatal(err)
	}
	nics, skipped := PhysicalNICs(as)
	// Wine reports the Linux ifb devices as Ethernet hardware with a
	// connector, so they count; only the loopback is left out.
	want := []wire.NIC{
		{Name: "eth0", MAC: "02:fc:00:00:00:01"},
		{Name: "ifb0", MAC: "16:68:b2:ab:46:69"},
		{Name: "ifb1", MAC: "9e:e0:03:95:5c:7e"},
	}
	if diff := cmp.Diff(want, nics); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"lo": "ifType 24 is not Ethernet, Wi-Fi or WWAN"}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// TestPhysicalNICsRules covers adapters Wine cannot show. The entries are
// built from the documented fields (ipifcons.h ifTypes, netioapi.h
// interface flags) with the descriptions Windows gives these adapters,
// not captured.
func TestPhysicalNICsRules(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	as := []Adapter{
		{FriendlyName: "Ethernet", Description: "Intel(R) Ethernet Connection (13) I219-LM", IfType: 6, PhysicalAddress: "A4-BB-6D-01-02-03", HardwareInterface: &yes, ConnectorPresent: &yes},
		{FriendlyName: "Wi-Fi", Description: "Intel(R) Wi-Fi 6 AX201 160MHz", IfType: 71, PhysicalAddress: "3c:a9:f4:01:02:03", HardwareInterface: &yes, ConnectorPresent: &yes},
		{FriendlyName: "vEthernet (Default Switch)", Description: "Hyper-V Virtual Ethernet Adapter", IfType: 6, PhysicalAddress: "00:15:5d:01:02:03", HardwareInterface: &no, ConnectorPresent: &no},
		{FriendlyName: "Local Area Connection* 1", Description: "Microsoft Wi-Fi Direct Virtual Adapter", IfType: 71, PhysicalAddress: "3e:a9:f4:01:02:03"},
		{FriendlyName: "Loopback Pseudo-Interface 1", Description: "Software Loopback Interface 1", IfType: 24},
		{FriendlyName: "Teredo", Description: "Teredo Tunneling Pseudo-Interface", IfType: 131, PhysicalAddress: "00:00:00:00:00:00:00:e0"},
		{FriendlyName: "Zero", Description: "Some NIC", IfType: 6, PhysicalAddress: "00:00:00:00:00:00"},
		{FriendlyName: "Cellular", Description: "Snapdragon X55 5G", IfType: 243, PhysicalAddress: "12:34:56:78:9a:bc"},
	}
	nics, skipped := PhysicalNICs(as)
	want := []wire.NIC{
		{Name: "Cellular", MAC: "12:34:56:78:9a:bc"},
		{Name: "Ethernet", MAC: "a4:bb:6d:01:02:03"},
		{Name: "Wi-Fi", MAC: "3c:a9:f4:01:02:03"},
	}
	if diff := cmp.Diff(want, nics); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, name := range []string{"vEthernet (Default Switch)", "Local Area Connection* 1", "Loopback Pseudo-Interface 1", "Teredo", "Zero"} {
		if skipped[name] == "" {
			t.Errorf("%s was not skipped with a reason", name)
		}
	}
}

func TestDisksWineCapture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/api/wine8-debian12-firecracker-PhysicalDrives.json")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ParseDrives(b)
	if err != nil {
		t.Fatal(err)
	}
	disks, failed := Disks(ds)
	want := []wire.Disk{{Name: "PhysicalDrive0", Media: wire.MediaUnknown, Bus: "scsi"}}
	if diff := cmp.Diff(want, disks); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(failed) != 0 {
		t.Errorf("failed = %v, want none", failed)
	}
}

// descriptor builds a STORAGE_DEVICE_DESCRIPTOR from winioctl.h's layout
// (not a capture: no real one with a compatible licence was found).
func descriptor(removable bool, bus uint32, strs ...string) []byte {
	b := make([]byte, 36)
	binary.LittleEndian.PutUint32(b[0:], 36)
	if removable {
		b[10] = 1
	}
	binary.LittleEndian.PutUint32(b[28:], bus)
	for i, s := range strs {
		if s == "" {
			continue
		}
		binary.LittleEndian.PutUint32(b[12+4*i:], uint32(len(b)))
		b = append(append(b, s...), 0)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

func TestParseStorageDescriptor(t *testing.T) {
	t.Parallel()
	got, err := ParseStorageDescriptor(descriptor(false, 17, "", "Samsung SSD 980 PRO 1TB", "5B2QGXA7", "0025_3852_1160_1234."))
	if err != nil {
		t.Fatal(err)
	}
	want := StorageDescriptor{BusType: 17, ProductID: "Samsung SSD 980 PRO 1TB", ProductRevision: "5B2QGXA7", SerialNumber: "0025_3852_1160_1234."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseStorageDescriptor(make([]byte, 20)); err == nil {
		t.Error("a 20-byte descriptor parsed without error")
	}
	// Offsets past the end are absent strings, not a panic.
	bad := descriptor(true, 7, "Kingston", "DataTraveler 3.0")
	binary.LittleEndian.PutUint32(bad[16:], 1<<20)
	if got, err := ParseStorageDescriptor(bad); err != nil || got.ProductID != "" || got.VendorID != "Kingston" || !got.RemovableMedia {
		t.Errorf("got %+v, %v; want vendor only, removable", got, err)
	}
}

func TestDisksRules(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	ds := []PhysicalDrive{
		{Device: `\\.\PhysicalDrive0`, ProductID: "Samsung SSD 980 PRO 1TB", SerialNumber: "0025_3852_1160_1234.", BusType: 17, SizeBytes: 1000204886016, IncursSeekPenalty: &no},
		{Device: `\\.\PhysicalDrive1`, VendorID: "ST2000DM", ProductID: "ST2000DM008-2FR102", SerialNumber: "ZFL1ABCD", BusType: 11, SizeBytes: 2000398934016, IncursSeekPenalty: &yes},
		{Device: `\\.\PhysicalDrive2`, VendorID: "Kingston", ProductID: "DataTraveler 3.0", BusType: 7, RemovableMedia: true, SerialNumber: "To be filled by O.E.M."},
		{Device: `\\.\PhysicalDrive3`, Error: "open \\\\.\\PhysicalDrive3: Access is denied."},
	}
	disks, failed := Disks(ds)
	want := []wire.Disk{
		{Name: "PhysicalDrive0", Model: "Samsung SSD 980 PRO 1TB", Serial: "0025_3852_1160_1234.", SizeBytes: 1000204886016, Media: wire.MediaSSD, Bus: "nvme"},
		{Name: "PhysicalDrive1", Model: "ST2000DM008-2FR102", Serial: "ZFL1ABCD", SizeBytes: 2000398934016, Media: wire.MediaHDD, Bus: "sata"},
		{Name: "PhysicalDrive2", Model: "Kingston DataTraveler 3.0", Media: wire.MediaUnknown, Bus: "usb", Removable: true},
	}
	if diff := cmp.Diff(want, disks); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(failed) != 1 || failed[`\\.\PhysicalDrive3`] == "" {
		t.Errorf("failed = %v, want PhysicalDrive3 with its error", failed)
	}
}

func FuzzParseAdapters(f *testing.F) {
	seedFiles(f, "testdata/api/*GetAdaptersAddresses.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseAdapters(b)
		if err != nil {
			return
		}
		nics, _ := PhysicalNICs(as)
		for _, n := range nics {
			if len(n.MAC) != 17 {
				t.Errorf("NIC %q has MAC %q", n.Name, n.MAC)
			}
		}
	})
}

func FuzzParseDrives(f *testing.F) {
	seedFiles(f, "testdata/api/*PhysicalDrives.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if ds, err := ParseDrives(b); err == nil {
			Disks(ds)
		}
	})
}

func FuzzParseStorageDescriptor(f *testing.F) {
	f.Add(descriptor(false, 17, "", "Samsung SSD 980 PRO 1TB", "5B2QGXA7", "0025_3852_1160_1234."))
	f.Add(descriptor(true, 7, "Kingston", "DataTraveler 3.0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseStorageDescriptor(b)
	})
}

func seedFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	if len(files) == 0 {
		f.Fatalf("no seed files match %s", glob)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
