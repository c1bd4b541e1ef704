package identity

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dumpField reads one value out of a real dmidecode capture in the
// repository: the first "key:" line under the first structure titled
// section. The captures are dmidecode's own reading of real machines, so
// every rule below is checked on what real firmware wrote.
func dumpField(t *testing.T, file, section, key string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", filepath.FromSlash(file)))
	if err != nil {
		t.Fatalf("open capture: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == section {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "Handle ") {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); in && ok && k == key {
			return strings.TrimPrefix(v, " ")
		}
	}
	t.Fatalf("%s: no %q under %q", file, key, section)
	return ""
}

const (
	t490    = "agent/smbios/testdata/lenovo-thinkpad-t490-smbios3.1.dmidecode3.4.txt"
	toshiba = "agent/smbios/testdata/toshiba-satellite-pro-l70-smbios2.7.dmidecode3.4.txt"
	dh61ag  = "testdata/fixtures/linux/dmidecode/intel-dh61ag-dmidecode2.11.txt"
	z420    = "testdata/fixtures/linux/dmidecode/hp-z420-workstation-dmidecode.txt"
	vmware  = "testdata/fixtures/linux/dmidecode/vmware-vm-dmidecode.txt"
	vbox    = "testdata/fixtures/linux/dmidecode/virtualbox-vm-dmidecode3.1.txt"
)

func TestPlaceholdersInRealDumps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ file, section, key string }{
		{t490, "Chassis Information", "Asset Tag"},           // No Asset Information
		{t490, "Base Board Information", "Asset Tag"},        // Not Available
		{toshiba, "Base Board Information", "Serial Number"}, // Type2 - Board Serial Number
		{toshiba, "Chassis Information", "Serial Number"},    // OEM Chassis Serial Number
		{toshiba, "Chassis Information", "Asset Tag"},        // No Asset Tag
		{toshiba, "System Information", "Family"},            // Type1Family
		{dh61ag, "System Information", "Serial Number"},      // spaces only
		{dh61ag, "Base Board Information", "Asset Tag"},      // To be filled by O.E.M.
		{vmware, "Chassis Information", "Asset Tag"},         // No Asset Tag
		{vbox, "System Information", "Serial Number"},        // 0
	} {
		v := dumpField(t, c.file, c.section, c.key)
		if got := Serial(v); got != "" {
			t.Errorf("%s %s %s: Serial(%q) = %q, want a placeholder", filepath.Base(c.file), c.section, c.key, v, got)
		}
	}
	// Real identifiers from the same dumps survive.
	for _, c := range []struct{ file, section, key, want string }{
		{t490, "System Information", "Serial Number", "PF1NKFHN"},
		{toshiba, "System Information", "Serial Number", "XD198915C"},
		{dh61ag, "Base Board Information", "Serial Number", "BTAG2240143N"},
		{z420, "System Information", "Serial Number", "2UA25107BB"},
	} {
		if got := Serial(dumpField(t, c.file, c.section, c.key)); got != c.want {
			t.Errorf("%s %s: got %q, want %q", filepath.Base(c.file), c.key, got, c.want)
		}
	}
}

func TestUUIDPlaceholdersFromTheBrief(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"EEEEEEEE-EEEE-EEEE-EEEE-EEEEEEEEEEEE",
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
		"00000000-0000-0000-0000-000000000000",
		"03000200-0400-0500-0006-000700080009",
	} {
		if got := UUID(u); got != "" {
			t.Errorf("UUID(%q) = %q, want placeholder", u, got)
		}
	}
	if got := UUID(dumpField(t, dh61ag, "System Information", "UUID")); got != "60a98bb3-95b6-e111-af74-4c72b9247d28" {
		t.Errorf("real DH61AG UUID: got %q", got)
	}
}

func TestSystemSerialChassisFallback(t *testing.T) {
	t.Parallel()
	// On the real dumps the system serial wins where it is set, and the
	// chassis serial, where set, is the same machine serial (T490, Z420).
	for _, f := range []string{t490, z420} {
		sys := dumpField(t, f, "System Information", "Serial Number")
		ch := dumpField(t, f, "Chassis Information", "Serial Number")
		if got, src := SystemSerial(sys, ch); got != Serial(sys) || src != "system" {
			t.Errorf("%s: got %q from %s", filepath.Base(f), got, src)
		}
		// The same firmware with the type 1 serial left unset (no real
		// dump in the repository has that with a real chassis serial):
		// the chassis serial identifies the machine.
		if got, src := SystemSerial("To Be Filled By O.E.M.", ch); got != Serial(ch) || src != "chassis" {
			t.Errorf("%s fallback: got %q from %s, want %q from chassis", filepath.Base(f), got, src, Serial(ch))
		}
	}
	// Toshiba: real system serial, placeholder chassis serial.
	if got, src := SystemSerial(dumpField(t, toshiba, "System Information", "Serial Number"),
		dumpField(t, toshiba, "Chassis Information", "Serial Number")); got != "XD198915C" || src != "system" {
		t.Errorf("toshiba: got %q from %s", got, src)
	}
	// DH61AG: both empty, nothing to take.
	if got, src := SystemSerial(dumpField(t, dh61ag, "System Information", "Serial Number"),
		dumpField(t, dh61ag, "Chassis Information", "Serial Number")); got != "" || src != "" {
		t.Errorf("dh61ag: got %q from %q, want none", got, src)
	}
}

func TestLenovoModel(t *testing.T) {
	t.Parallel()
	m, p, v := dumpField(t, t490, "System Information", "Manufacturer"),
		dumpField(t, t490, "System Information", "Product Name"),
		dumpField(t, t490, "System Information", "Version")
	if got := Model(m, p, v); got != "ThinkPad T490" {
		t.Errorf("Model = %q, want ThinkPad T490", got)
	}
	if got := MachineType(m, p); got != "20N2" {
		t.Errorf("MachineType = %q, want 20N2", got)
	}
	// Other vendors keep Product Name (Toshiba's Version is a part number).
	m, p, v = dumpField(t, toshiba, "System Information", "Manufacturer"),
		dumpField(t, toshiba, "System Information", "Product Name"),
		dumpField(t, toshiba, "System Information", "Version")
	if got := Model(m, p, v); got != "SATELLITE PRO L70-A" {
		t.Errorf("Toshiba Model = %q", got)
	}
	if got := MachineType(m, p); got != "" {
		t.Errorf("Toshiba MachineType = %q, want none", got)
	}
}

func TestAppleSerialFormat(t *testing.T) {
	t.Parallel()
	// system_profiler on a MacBookPro10,1 (google/grr capture).
	b, err := os.ReadFile("../../testdata/fixtures/darwin/system_profiler/macbookpro10,1-SPHardwareDataType.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(b), "<key>serial_number</key>")
	serial := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(strings.SplitN(after, "\n", 3)[1]), "<string>"), "</string>"))
	if serial != "C02JQ0F5F6L9" {
		t.Fatalf("capture serial: got %q", serial)
	}
	if got := AppleSerialFormat(serial); got != AppleSerialLegacy {
		t.Errorf("AppleSerialFormat(%q) = %q, want legacy", serial, got)
	}
	for in, want := range map[string]string{
		"":                         "",
		"Not Specified":            "",
		"C02JQ0F5F6L9-LOGICBOARD1": "",
	} {
		if got := AppleSerialFormat(in); got != want {
			t.Errorf("AppleSerialFormat(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHypervisorOnRealDumps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ file, want string }{
		{vmware, "VMware"},
		{vbox, "VirtualBox"},
		{"testdata/fixtures/linux/dmidecode/freebsd-virtualbox-dmidecode2.10.txt", "VirtualBox"},
		{t490, ""},
		{z420, ""},
		{toshiba, ""},
	} {
		m := dumpField(t, c.file, "System Information", "Manufacturer")
		p := dumpField(t, c.file, "System Information", "Product Name")
		bios := dumpField(t, c.file, "BIOS Information", "Vendor")
		if got := Hypervisor(m, p, bios); got != c.want {
			t.Errorf("%s: Hypervisor = %q, want %q", filepath.Base(c.file), got, c.want)
		}
	}
}
