package darwin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

const (
	fxIOReg          = "ioreg/macbookpro12-1-ioreg-rd1-c-IOPlatformExpertDevice.txt"
	fxListSilicon    = "diskutil/apple-silicon-diskutil-list-plist.xml"
	fxAPFSSilicon    = "diskutil/apple-silicon-diskutil-apfs-list-plist.xml"
	fxList1013       = "diskutil/macos-10.13-diskutil-list-plist.xml"
	fxAPFS1013       = "diskutil/macos-10.13-diskutil-apfs-list-plist.xml"
	fxInfoRoot1013   = "diskutil/macos-10.13-diskutil-info-plist-root.xml"
	fxIfconfig1014   = "ifconfig/macos-10.14.6-ifconfig.txt"
	fxIfconfig1014b  = "ifconfig/macos-10.14.6-ifconfig2.txt"
	fxIfconfig1011   = "ifconfig/macos-10.11.6-ifconfig2.txt"
	fxSUMultiple     = "updates/softwareupdate-list-multiple-updates-available-noscan.txt"
	fxSUBeta         = "updates/softwareupdate-list-beta-update-available-scan.txt"
	fxSUErrorScan    = "updates/softwareupdate-list-error-scan.txt"
	fxSUNoneNoScan   = "updates/softwareupdate-list-no-update-available-noscan.txt"
	fxSUOneAvailable = "updates/softwareupdate-list-update-available-scan.txt"
)

func TestParseIORegPlatform(t *testing.T) {
	t.Parallel()
	got, err := parseIORegPlatform(fixture(t, fxIOReg))
	if err != nil {
		t.Fatal(err)
	}
	// Upstream anonymised the serial and UUID (the UUID's first group has
	// nine digits); the parser reports what is there, the probe judges it.
	want := ioregPlatform{Serial: "CCCCCCCCC", UUID: "A3344D1DD-1234-22A1-B123-11AB1C11D111",
		Model: "MacBookPro12,1", BoardID: "Mac-EEECCCDDD8888AAA", Manufacturer: "Apple Inc.", ProductName: "MacBookPro12,1"}
	got.Properties = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ioreg (-want +got):\n%s", diff)
	}
}

func TestParseIORegPlatformRejectsOtherOutput(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		if name == fxIOReg {
			continue
		}
		if got, err := parseIORegPlatform(b); err == nil {
			t.Errorf("%s: got %+v, nil error; want an error", name, got)
		}
	}
}

func TestIORegValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"C02XK0AAJG5H"`, "C02XK0AAJG5H", true},
		{`<"MacBookPro12,1">`, "MacBookPro12,1", true},
		{`<"J314sAP","MacBookPro18,3","AppleARM">`, "J314sAP", true},
		{`<4d6163000000>`, "Mac", true},
		{`<00e1f505>`, "", false},
		{`<02>`, "", false},
		{`(<0900000005000000>)`, "", false},
		{`<534c5054020013$`, "", false},
		{`Yes`, "", false},
	}
	for _, tt := range tests {
		got, ok := ioregValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ioregValue(%q): got %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseIfconfigPhysicalNICs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		ifaces int
		want   []wire.NIC
	}{
		// en5 is the T2 bridge (ac:de:48), en1-en4 Thunderbolt ports with
		// locally administered addresses, p2p0/awdl0/ap1/bridge0 virtual.
		{fxIfconfig1014, 20, []wire.NIC{{Name: "en0", MAC: "f0:18:98:03:d9:30"}}},
		{fxIfconfig1014b, 21, []wire.NIC{{Name: "en0", MAC: "a4:83:e7:2d:63:8e"}}},
		{fxIfconfig1011, 7, []wire.NIC{{Name: "en0", MAC: "60:c5:47:0a:ce:0b"}}},
	}
	for _, tt := range tests {
		ifaces := parseIfconfig(fixture(t, tt.file))
		if len(ifaces) != tt.ifaces {
			t.Errorf("%s: got %d interfaces, want %d", tt.file, len(ifaces), tt.ifaces)
		}
		if diff := cmp.Diff(tt.want, physicalNICs(ifaces)); diff != "" {
			t.Errorf("%s: NICs (-want +got):\n%s", tt.file, diff)
		}
	}
	ifaces := parseIfconfig(fixture(t, fxIfconfig1014))
	if en1 := ifaces[10]; en1.Name != "en1" || en1.MAC != "02:00:31:81:83:05" || en1.Status != "inactive" ||
		!strings.Contains(strings.Join(en1.Flags, ","), "PROMISC") {
		t.Errorf("en1: got %+v", en1)
	}
}

func TestParseIfconfigFindsNothingInOtherOutput(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		if strings.HasPrefix(name, "ifconfig/") {
			continue
		}
		if got := parseIfconfig(b); len(got) != 0 {
			t.Errorf("%s: got %d interfaces, want none", name, len(got))
		}
	}
}

func TestParseDiskutilList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		disks  []string
		size   uint64
		mounts map[string]string
	}{
		{fxListSilicon, []string{"disk0"}, 2001111162880, map[string]string{
			"disk1s1": "/System/Volumes/iSCPreboot", "disk1s2": "/System/Volumes/xarts", "disk1s3": "/System/Volumes/Hardware",
			"disk3s1": "/", "disk3s1s1": "/", "disk3s2": "/System/Volumes/Preboot", "disk3s4": "/System/Volumes/Update",
			"disk3s5": "/System/Volumes/Data", "disk3s6": "/System/Volumes/VM", "disk3s7": "/nix"}},
		{fxList1013, []string{"disk0"}, 251000193024, map[string]string{"disk1s1": "/", "disk1s4": "/private/var/vm"}},
	}
	for _, tt := range tests {
		l, err := parseDiskutilList(fixture(t, tt.file))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		var names []string
		for _, d := range l.physicalCandidates() {
			names = append(names, d.DeviceIdentifier)
			if d.Size != tt.size {
				t.Errorf("%s %s: got size %d, want %d", tt.file, d.DeviceIdentifier, d.Size, tt.size)
			}
		}
		if diff := cmp.Diff(tt.disks, names); diff != "" {
			t.Errorf("%s: whole disks (-want +got):\n%s", tt.file, diff)
		}
		if diff := cmp.Diff(tt.mounts, l.mountPoints()); diff != "" {
			t.Errorf("%s: mount points (-want +got):\n%s", tt.file, diff)
		}
	}
}

func TestParseDiskutilInfo(t *testing.T) {
	t.Parallel()
	// A volume's info (upstream kept only some keys): what a disk's fields
	// come from, read the same way.
	i, err := parseDiskutilInfo(fixture(t, fxInfoRoot1013))
	if err != nil {
		t.Fatal(err)
	}
	if i.DeviceIdentifier != "disk1s1" || i.MountPoint != "/" || i.FilesystemType != "apfs" || i.Size != 250135076864 ||
		i.SolidState == nil || !*i.SolidState || i.Internal != nil {
		t.Errorf("got %+v", i)
	}
	var d wire.Disk
	fillDisk(&d, i)
	if d.Media != wire.MediaSSD || d.SizeBytes != 250135076864 || d.Removable {
		t.Errorf("disk: got %+v, want ssd, 250135076864 bytes, not removable (Internal absent is not external)", d)
	}
}

func TestParseDiskutilPlistsRejectOtherOutput(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		if !strings.Contains(name, "diskutil-list") {
			if got, err := parseDiskutilList(b); err == nil {
				t.Errorf("diskutil list, %s: got %+v, nil error; want an error", name, got)
			}
		}
		if !strings.Contains(name, "diskutil-info") {
			if got, err := parseDiskutilInfo(b); err == nil {
				t.Errorf("diskutil info, %s: got %+v, nil error; want an error", name, got)
			}
		}
		if !strings.Contains(name, "diskutil-apfs-list") {
			if got, err := parseAPFSList(b); err == nil && len(got.Containers) > 0 {
				t.Errorf("diskutil apfs list, %s: got %d containers, want an error", name, len(got.Containers))
			}
		}
	}
}

func TestAPFSVolumes(t *testing.T) {
	t.Parallel()
	type row struct {
		dev, mount string
		enc        wire.Tri
		scheme     string
		system     bool
	}
	tests := []struct {
		apfs, list string
		want       []row
	}{
		// Apple silicon, FileVault on: System, Data and a user volume.
		{fxAPFSSilicon, fxListSilicon, []row{
			{"disk1s1", "/System/Volumes/iSCPreboot", wire.No, "", false},
			{"disk1s2", "/System/Volumes/xarts", wire.No, "", false},
			{"disk1s3", "/System/Volumes/Hardware", wire.No, "", false},
			{"disk1s4", "", wire.No, "", false},
			{"disk2s1", "", wire.No, "", false},
			{"disk2s2", "", wire.No, "", false},
			{"disk3s1", "/", wire.Yes, wire.SchemeFileVault, true},
			{"disk3s2", "/System/Volumes/Preboot", wire.No, "", false},
			{"disk3s3", "", wire.No, "", false},
			{"disk3s4", "/System/Volumes/Update", wire.No, "", false},
			{"disk3s5", "/System/Volumes/Data", wire.Yes, wire.SchemeFileVault, false},
			{"disk3s6", "/System/Volumes/VM", wire.No, "", false},
			{"disk3s7", "/nix", wire.Yes, wire.SchemeFileVault, false},
		}},
		// macOS 10.13: no roles, no FileVault key; the boot volume is the
		// one mounted at "/", and it is not encrypted.
		{fxAPFS1013, fxList1013, []row{
			{"disk1s1", "/", wire.No, "", true},
			{"disk1s2", "", wire.No, "", false},
			{"disk1s3", "", wire.No, "", false},
			{"disk1s4", "/private/var/vm", wire.No, "", false},
		}},
	}
	for _, tt := range tests {
		l, err := parseAPFSList(fixture(t, tt.apfs))
		if err != nil {
			t.Fatalf("%s: %v", tt.apfs, err)
		}
		dl, err := parseDiskutilList(fixture(t, tt.list))
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for _, v := range apfsVolumes(l, dl.mountPoints(), "") {
			got = append(got, row{v.Device, v.MountPoint, v.Encrypted, v.Scheme, v.System})
			if (v.Encrypted == wire.Yes) != (v.Status == wire.StateOn) || v.FSType != "apfs" {
				t.Errorf("%s %s: encrypted %q with status %q, fs %q", tt.apfs, v.Device, v.Encrypted, v.Status, v.FSType)
			}
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(row{})); diff != "" {
			t.Errorf("%s: volumes (-want +got):\n%s", tt.apfs, diff)
		}
	}
}

// Without the mount table every volume is still reported, with the reason.
func TestAPFSVolumesWithoutMounts(t *testing.T) {
	t.Parallel()
	l, err := parseAPFSList(fixture(t, fxAPFSSilicon))
	if err != nil {
		t.Fatal(err)
	}
	vols := apfsVolumes(l, nil, "mount point unknown: diskutil list -plist: command not found on this host")
	if len(vols) != 13 || !strings.Contains(vols[6].Reason, "mount point unknown") || !vols[6].System {
		t.Errorf("got %d volumes, system %+v", len(vols), vols[6])
	}
	if sys := systemVolume(vols); sys == nil || sys.Device != "disk3s1" || sys.Status != wire.StateOn {
		t.Errorf("system volume: got %+v", sys)
	}
}

func TestParseSoftwareUpdateListLauncherCaptures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		answered bool
		labels   []string
		restart  []bool
	}{
		{fxSUMultiple, true, []string{"Command Line Tools for Xcode-14.3", "macOS Ventura 13.4 Beta-22F5027f"}, []bool{false, true}},
		{fxSUBeta, true, []string{"macOS Ventura 13.3 Beta 3-22E5236f"}, []bool{true}},
		{fxSUOneAvailable, true, []string{"macOS Ventura 13.3.1-22E261"}, []bool{true}},
		{fxSUNoneNoScan, true, nil, nil},
		// A failed scan is not "no updates".
		{fxSUErrorScan, false, nil, nil},
	}
	for _, tt := range tests {
		got := parseSoftwareUpdateList(fixture(t, tt.file))
		if got.Answered != tt.answered {
			t.Errorf("%s: answered %v, want %v", tt.file, got.Answered, tt.answered)
		}
		var labels []string
		var restart []bool
		for _, u := range got.Updates {
			labels, restart = append(labels, u.Label), append(restart, u.Restart)
			if u.Title == "" || u.Version == "" || !u.Recommended {
				t.Errorf("%s: %+v, want title, version and recommended", tt.file, u)
			}
		}
		if !cmp.Equal(labels, tt.labels) || !cmp.Equal(restart, tt.restart) {
			t.Errorf("%s: got %q restart %v, want %q restart %v", tt.file, labels, restart, tt.labels, tt.restart)
		}
	}
}

func FuzzParseIORegPlatform(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseIORegPlatform(b)
		if err == nil && p.Properties == nil {
			t.Fatal("no error and no properties map")
		}
	})
}

func FuzzParseIfconfig(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range physicalNICs(parseIfconfig(b)) {
			if n.MAC == "" || !isEnN(n.Name) {
				t.Fatalf("NIC %+v", n)
			}
		}
	})
}

func FuzzParseDiskutilList(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := parseDiskutilList(b); err == nil {
			_ = l.mountPoints()
			_ = l.physicalCandidates()
		}
	})
}

func FuzzParseDiskutilInfo(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if i, err := parseDiskutilInfo(b); err == nil {
			var d wire.Disk
			fillDisk(&d, i)
		}
	})
}

func FuzzParseAPFSList(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseAPFSList(b)
		if err != nil {
			return
		}
		for _, v := range apfsVolumes(l, nil, "") {
			if v.Encrypted == wire.Yes && v.Scheme == "" {
				t.Fatalf("encrypted volume without scheme: %+v", v)
			}
		}
	})
}
