package darwin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSPHardware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		parse func([]byte) (spHardware, error)
		want  spHardware
	}{
		{
			file:  "system_profiler/macbookpro10,1-SPHardwareDataType.xml",
			parse: parseSPHardwareXML,
			want: spHardware{
				ModelName: "MacBook Pro", ModelID: "MacBookPro10,1", CPU: "Intel Core i7", CPUMHz: 2300,
				Packages: 1, Cores: 4, Memory: 16 << 30, MemoryText: "16 GB",
				Serial: "C02JQ0F5F6L9", UUID: "9F62B993-49C3-5D76-ABCE-766794EDB2CD", BootROM: "MBP101.00EE.B02",
			},
		},
		{
			file:  "system_profiler/macbookpro11,4-SPHardwareDataType.txt",
			parse: parseSPHardwareText,
			want: spHardware{
				ModelName: "MacBook Pro", ModelID: "MacBookPro11,4", CPU: "Intel Core i7", CPUMHz: 2800,
				Packages: 1, Cores: 4, Memory: 16 << 30, MemoryText: "16 GB",
				Serial: "123456789AAA", UUID: "12345678-1111-2222-AAAA-AABBCCDDEEFF",
				BootROM: "1037.60.58.0.0 (iBridge: 17.16.12551.0.0,0)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := tt.parse(fixture(t, tt.file))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The hardware parsers must refuse other system_profiler reports rather
// than return an empty identity.
func TestParseSPHardwareRejectsOtherReports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		parse func([]byte) (spHardware, error)
	}{
		{"system_profiler/macos-10.15-intel-SPApplicationsDataType.xml", parseSPHardwareXML},
		{"sw_vers/macos-13.3.1-SystemVersion.plist", parseSPHardwareXML},
		{"system_profiler/macbookpro11,4-SPHardwareDataType.txt", parseSPHardwareXML},
		{"system_profiler/macos-10.15.2-SPSoftwareDataType.txt", parseSPHardwareText},
		{"updates/softwareupdate-list-updates-available.txt", parseSPHardwareText},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			if got, err := tt.parse(fixture(t, tt.file)); err == nil {
				t.Errorf("got %+v, nil error; want an error", got)
			}
		})
	}
}

func TestParseSPSoftwareText(t *testing.T) {
	t.Parallel()
	got, err := parseSPSoftwareText(fixture(t, "system_profiler/macos-10.15.2-SPSoftwareDataType.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := spSoftware{Name: "macOS", Version: "10.15.2", Build: "19C57", Kernel: "Darwin 19.2.0"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseSPSoftwareText(fixture(t, "system_profiler/macbookpro11,4-SPHardwareDataType.txt")); err == nil {
		t.Error("hardware report parsed as software report, want an error")
	}
}

func TestParseSPApplicationsXML(t *testing.T) {
	t.Parallel()
	apps, err := parseSPApplicationsXML(fixture(t, "system_profiler/macos-10.15-intel-SPApplicationsDataType.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 385 {
		t.Errorf("got %d applications, want 385", len(apps))
	}
	byPath := map[string]spApp{}
	for _, a := range apps {
		byPath[a.Path] = a
	}
	tests := []struct {
		path    string
		name    string
		version string
		from    string
		pub     string
		arch    string
	}{
		{"/Applications/Chef Workstation App.app", "Chef Workstation App", "0.1.82", "identified_developer", "Chef Software, Inc.", "x86_64"},
		{"/Applications/iTerm.app", "iTerm", "3.3.12", "identified_developer", "GEORGE NACHMAN", "x86_64"},
		{"/Applications/System Preferences.app", "System Preferences", "14.0", "apple", "Apple Inc.", "x86_64"},
		// Mac App Store signatures do not name the developer.
		{"/Applications/WhatsApp.app", "WhatsApp", "2.2035.15", "mac_app_store", "", "x86_64"},
		{"/System/Library/CoreServices/Installer.app", "Installer", "6.2.0", "apple", "Apple Inc.", "x86_64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := byPath[tt.path]
			if !ok {
				t.Fatalf("no application at %s", tt.path)
			}
			if a.Name != tt.name || a.Version != tt.version || a.ObtainedFrom != tt.from {
				t.Errorf("got %q %q %q, want %q %q %q", a.Name, a.Version, a.ObtainedFrom, tt.name, tt.version, tt.from)
			}
			p := appPackage(a)
			if p.Publisher != tt.pub || p.Arch != tt.arch || p.Location != tt.path || p.InstallDate != nil {
				t.Errorf("got publisher %q arch %q location %q install date %v, want %q %q %q nil",
					p.Publisher, p.Arch, p.Location, p.InstallDate, tt.pub, tt.arch, tt.path)
			}
		})
	}
	if _, err := parseSPApplicationsXML(fixture(t, "system_profiler/macbookpro10,1-SPHardwareDataType.xml")); err == nil {
		t.Error("hardware report parsed as applications report, want an error")
	}
}

func TestCountOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want int
	}{
		{uint64(4), 4}, // number_processors in the MacBookPro10,1 XML
		{"4", 4},       // "Total Number of Cores: 4" in the MacBookPro11,4 text
		{"1", 1},
		{"", 0},
		{nil, 0},
		{int64(-1), 0},
		{"many", 0},
	}
	for _, tt := range tests {
		if got := countOf(tt.in); got != tt.want {
			t.Errorf("countOf(%#v): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseMHzAndSize(t *testing.T) {
	t.Parallel()
	mhz := map[string]int{"2.3 GHz": 2300, "2.8 GHz": 2800, "": 0, "fast": 0, "2.3GHz": 0}
	for in, want := range mhz {
		if got := parseMHz(in); got != want {
			t.Errorf("parseMHz(%q): got %d, want %d", in, got, want)
		}
	}
	size := map[string]uint64{"16 GB": 17179869184, "": 0, "16": 0, "0 GB": 0, "-1 GB": 0}
	for in, want := range size {
		if got := parseSize(in); got != want {
			t.Errorf("parseSize(%q): got %d, want %d", in, got, want)
		}
	}
}

func FuzzParseSPHardwareXML(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseSPHardwareXML(b) })
}

func FuzzParseSPHardwareText(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseSPHardwareText(b) })
}

func FuzzParseSPSoftwareText(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseSPSoftwareText(b) })
}

func FuzzParseSPApplicationsXML(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := parseSPApplicationsXML(b)
		if err != nil {
			return
		}
		for _, a := range apps {
			_ = appPackage(a)
		}
	})
}
