package darwin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// collectHost runs every probe on a captured host under testdata/hosts/darwin.
// The full snapshots are compared with each host's want.json by the
// end-to-end test in cmd/roster-agent; these tests pin the facts that matter.
func collectHost(t *testing.T, name string) (*wire.Snapshot, map[string]wire.ProbeStatus) {
	t.Helper()
	h, err := host.Captured(wire.PlatformDarwin, filepath.Join("../../testdata/hosts/darwin", name))
	if err != nil {
		t.Fatal(err)
	}
	s := probe.Run(context.Background(), h, Probes(), probe.Options{Now: func() time.Time { return time.Time{} }})
	st := map[string]wire.ProbeStatus{}
	for _, p := range s.Probes {
		st[p.Name] = p
	}
	return s, st
}

func TestHostMacBookPro101XML(t *testing.T) {
	t.Parallel()
	s, st := collectHost(t, "macbookpro10-1-xml")
	for _, name := range []string{"hardware", "encryption", "os", "os/updates", "software/apps"} {
		if st[name].Status != wire.ProbeOK {
			t.Errorf("probe %s: got %s (%s), want ok", name, st[name].Status, st[name].Message)
		}
	}
	for _, name := range []string{"software/pkgutil", "software/brew"} {
		if st[name].Status != wire.ProbeNotApplicable {
			t.Errorf("probe %s: got %s, want not_applicable", name, st[name].Status)
		}
	}
	hw := s.Hardware
	if hw.SystemSerial != "C02JQ0F5F6L9" || hw.SystemUUID != "9f62b993-49c3-5d76-abce-766794edb2cd" ||
		hw.Model != "MacBook Pro (MacBookPro10,1)" || hw.Vendor != appleVendor || hw.FormFactor != "laptop" ||
		hw.Virtual != wire.No || hw.MemoryBytes != 16<<30 || hw.CPU == nil || hw.CPU.Cores != 4 {
		t.Errorf("hardware: got %+v cpu %+v", hw, hw.CPU)
	}
	if hw.Unknown["hostname"] == "" || hw.Unknown["disks"] == "" {
		t.Errorf("hardware unknown: got %v, want hostname and disks explained", hw.Unknown)
	}
	// Only mdmclient was captured: FDE_Enabled = 1.
	sys := s.Encryption.System
	if sys.MountPoint != "/" || sys.Encrypted != wire.Yes || sys.Status != wire.StateOn || sys.Scheme != wire.SchemeFileVault || sys.Reason == "" {
		t.Errorf("encryption: got %+v", sys)
	}
	o := s.OS
	if o.Name != "macOS" || o.Version != "13.3.1" || o.Build != "22E261" || o.Kernel != "" || o.Unknown["kernel"] == "" {
		t.Errorf("os: got %+v", o)
	}
	if o.LastUpdateAt == nil || !o.LastUpdateAt.Equal(time.Date(2021, 2, 9, 22, 34, 52, 0, time.UTC)) {
		t.Errorf("last update: got %v, want 2021-02-09T22:34:52Z", o.LastUpdateAt)
	}
	if o.InstallDate != nil || o.Unknown["install_date"] == "" {
		t.Errorf("install date: got %v (%q), want unknown", o.InstallDate, o.Unknown["install_date"])
	}
	if o.PendingUpdates == nil || *o.PendingUpdates != 4 || o.PendingSecurityUpdates != nil ||
		o.Unknown["pending_security_updates"] == "" || o.RebootRequired != wire.Yes || len(o.Pending) != 4 {
		t.Errorf("pending: got %v security %v reboot %q list %v", o.PendingUpdates, o.PendingSecurityUpdates, o.RebootRequired, o.Pending)
	}
	if n := len(s.Software.Packages); n != 385 {
		t.Errorf("software: got %d packages, want the 385 system_profiler lists", n)
	}
}

func TestHostMacBookPro114Text(t *testing.T) {
	t.Parallel()
	s, st := collectHost(t, "macbookpro11-4-text")
	for _, name := range []string{"hardware", "encryption", "os", "os/updates", "software/apps"} {
		if st[name].Status != wire.ProbeOK {
			t.Errorf("probe %s: got %s (%s), want ok", name, st[name].Status, st[name].Message)
		}
	}
	hw := s.Hardware
	if hw.SystemSerial != "123456789AAA" || hw.SystemUUID != "12345678-1111-2222-aaaa-aabbccddeeff" ||
		hw.Model != "MacBook Pro (MacBookPro11,4)" || hw.FormFactor != "laptop" || hw.CPU == nil || hw.CPU.MaxMHz != 2800 {
		t.Errorf("hardware: got %+v cpu %+v", hw, hw.CPU)
	}
	// Neither fdesetup nor mdmclient was captured: unknown, never "no".
	sys := s.Encryption.System
	if sys.Encrypted != wire.Unknown || sys.Status != wire.StateUnknown || sys.Reason == "" {
		t.Errorf("encryption: got %+v, want unknown with a reason", sys)
	}
	o := s.OS
	if o.Version != "10.15.2" || o.Build != "19C57" || o.Kernel != "19.2.0" || o.Codename != "Catalina" {
		t.Errorf("os: got %+v", o)
	}
	if o.PendingUpdates == nil || *o.PendingUpdates != 0 || o.PendingSecurityUpdates == nil || *o.PendingSecurityUpdates != 0 ||
		o.RebootRequired != wire.No {
		t.Errorf("pending: got %v security %v reboot %q", o.PendingUpdates, o.PendingSecurityUpdates, o.RebootRequired)
	}
	if o.LastUpdateAt != nil || o.Unknown["last_update_at"] == "" {
		t.Errorf("last update: got %v, want unknown (no InstallHistory.plist)", o.LastUpdateAt)
	}
	// No system_profiler application list: the Info.plist walk finds Safari.
	pk := s.Software.Packages
	if len(pk) != 1 || pk[0].Name != "Safari" || pk[0].Version != "15.6" || pk[0].Location != "/Applications/Safari.app" {
		t.Errorf("software: got %+v, want Safari 15.6 from its Info.plist", pk)
	}
}

func TestClassifyModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name   string
		formFactor string
		virtual    bool
		apple      bool
	}{
		{"MacBookPro10,1", "MacBook Pro", "laptop", false, true},
		{"MacBookPro11,4", "MacBook Pro", "laptop", false, true},
		{"MacBookAir10,1", "MacBook Air", "laptop", false, true},
		{"Macmini9,1", "Mac mini", "desktop", false, true},
		{"iMac21,1", "iMac", "desktop", false, true},
		{"MacPro7,1", "Mac Pro", "desktop", false, true},
		{"Mac13,1", "Mac Studio", "desktop", false, true},
		{"Mac14,2", "MacBook Air", "laptop", false, true},
		{"Mac99,9", "", "", false, true},
		{"VirtualMac2,1", "Apple Virtual Machine 1", "vm", true, true},
		{"VMware7,1", "", "vm", true, false},
		{"", "", "", false, false},
		{"Mac", "", "", false, false},
	}
	for _, tt := range tests {
		got := classifyModel(tt.id, tt.name)
		if got.formFactor != tt.formFactor || got.virtual != tt.virtual || got.apple != tt.apple {
			t.Errorf("classifyModel(%q, %q): got %+v, want %s virtual=%v apple=%v", tt.id, tt.name, got, tt.formFactor, tt.virtual, tt.apple)
		}
	}
}

func TestHostAppleSiliconFileVault(t *testing.T) {
	t.Parallel()
	s, st := collectHost(t, "apple-silicon-filevault")
	if st["encryption"].Status != wire.ProbeOK {
		t.Errorf("encryption probe: got %s (%s), want ok", st["encryption"].Status, st["encryption"].Message)
	}
	// No fdesetup: the summary comes from the System volume's FileVault flag.
	sys := s.Encryption.System
	if sys.Encrypted != wire.Yes || sys.Status != wire.StateOn || sys.Scheme != wire.SchemeFileVault ||
		!strings.Contains(sys.Reason, "disk3s1") {
		t.Errorf("system: got %+v", sys)
	}
	byMount := map[string]wire.Volume{}
	for _, v := range s.Encryption.Volumes {
		byMount[v.MountPoint] = v
	}
	if n := len(s.Encryption.Volumes); n != 13 {
		t.Errorf("got %d volumes, want the 13 diskutil lists", n)
	}
	for mp, want := range map[string]wire.Tri{"/": wire.Yes, "/System/Volumes/Data": wire.Yes, "/nix": wire.Yes,
		"/System/Volumes/Preboot": wire.No, "/System/Volumes/VM": wire.No} {
		if v := byMount[mp]; v.Encrypted != want || v.Device == "" {
			t.Errorf("%s: got %+v, want encrypted %s", mp, v, want)
		}
	}
	hw := s.Hardware
	if len(hw.Disks) != 1 || hw.Disks[0].Name != "disk0" || hw.Disks[0].SizeBytes != 2001111162880 ||
		hw.Disks[0].Media != wire.MediaUnknown || !strings.Contains(hw.Unknown["disk_model"], "diskutil info -plist disk0") {
		t.Errorf("disks: got %+v (%q)", hw.Disks, hw.Unknown["disk_model"])
	}
}

func TestHostMacOS1013APFS(t *testing.T) {
	t.Parallel()
	s, _ := collectHost(t, "macos-10.13-apfs")
	sys := s.Encryption.System
	if sys.Encrypted != wire.No || sys.Status != wire.StateOff {
		t.Errorf("system: got %+v, want not encrypted per the volume mounted at /", sys)
	}
	if n := len(s.Encryption.Volumes); n != 4 {
		t.Errorf("got %d volumes, want 4", n)
	}
}

func TestHostMacBookPro121IOReg(t *testing.T) {
	t.Parallel()
	s, st := collectHost(t, "macbookpro12-1-ioreg")
	if st["hardware"].Status != wire.ProbeOK {
		t.Errorf("hardware probe: got %s (%s), want ok: system_profiler is only a fallback", st["hardware"].Status, st["hardware"].Message)
	}
	hw := s.Hardware
	if hw.Model != "MacBookPro12,1" || hw.Vendor != appleVendor || hw.FormFactor != "laptop" || hw.Virtual != wire.No {
		t.Errorf("hardware: got %+v", hw)
	}
	// Upstream anonymised both: unknown with the value, never reported.
	if hw.SystemSerial != "" || !strings.Contains(hw.Unknown["system_serial"], `"CCCCCCCCC"`) ||
		hw.SystemUUID != "" || !strings.Contains(hw.Unknown["system_uuid"], "A3344D1DD") {
		t.Errorf("identity: got serial %q uuid %q unknown %v", hw.SystemSerial, hw.SystemUUID, hw.Unknown)
	}
	if hw.BoardSerial != "" || hw.Unknown["board_serial"] == "" {
		t.Errorf("board serial: got %q (%q), want unknown with a reason", hw.BoardSerial, hw.Unknown["board_serial"])
	}
}

func TestHostMacOS1014Ifconfig(t *testing.T) {
	t.Parallel()
	s, _ := collectHost(t, "macos-10.14.6-ifconfig")
	if nics := s.Hardware.NICs; len(nics) != 1 || nics[0] != (wire.NIC{Name: "en0", MAC: "f0:18:98:03:d9:30"}) {
		t.Errorf("NICs: got %+v, want en0 only", nics)
	}
}
