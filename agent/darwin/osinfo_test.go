package darwin

import (
	"testing"
	"time"
)

func TestParseSystemVersion(t *testing.T) {
	t.Parallel()
	got, err := parseSystemVersion(fixture(t, "sw_vers/macos-13.3.1-SystemVersion.plist"))
	if err != nil {
		t.Fatal(err)
	}
	want := systemVersion{ProductName: "macOS", ProductVersion: "13.3.1", ProductUserVisibleVersion: "13.3.1", ProductBuildVersion: "22E261"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if c := macOSCodename(got.ProductVersion); c != "Ventura" {
		t.Errorf("codename: got %q, want Ventura", c)
	}
	if _, err := parseSystemVersion(fixture(t, "app-info-plist/Safari-Info.plist")); err == nil {
		t.Error("Info.plist parsed as SystemVersion.plist, want an error")
	}
}

func TestMacOSCodename(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"10.15.2": "Catalina", "13.3.1": "Ventura", "11.2": "Big Sur", "26.7": "Tahoe", "10.1": "", "": ""} {
		if got := macOSCodename(in); got != want {
			t.Errorf("macOSCodename(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestInstallHistory(t *testing.T) {
	t.Parallel()
	entries, err := parseInstallHistory(fixture(t, "updates/InstallHistory.plist"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Fatalf("got %d records, want 5", len(entries))
	}
	// Which records count as macOS updates, in file order.
	wantOS := []bool{false, false, false, true, true}
	for i, e := range entries {
		if got := isOSUpdate(e); got != wantOS[i] {
			t.Errorf("record %d (%s, %s): isOSUpdate got %v, want %v", i, e.DisplayName, e.ProcessName, got, wantOS[i])
		}
	}
	last, ok := lastOSUpdate(entries)
	wantAt := time.Date(2021, 2, 9, 22, 34, 52, 0, time.UTC)
	if !ok || last.DisplayName != "macOS 11.2" || !last.Date.Equal(wantAt) {
		t.Errorf("last OS update: got %q at %v (found %v), want \"macOS 11.2\" at %v", last.DisplayName, last.Date, ok, wantAt)
	}
	// The newest record overall is grr's own package, 2018-08-07, which is
	// not an OS update; the file is not in date order either.
	if first, ok := firstOSInstall(entries); ok {
		t.Errorf("first OS install: got %+v, want none (this history has no macOS installer record)", first)
	}
	if _, err := parseInstallHistory(fixture(t, "sw_vers/macos-13.3.1-SystemVersion.plist")); err == nil {
		t.Error("SystemVersion.plist (a dict) parsed as InstallHistory.plist (an array), want an error")
	}
}

func TestParseSoftwareUpdateList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want swUpdateList
	}{
		{"updates/softwareupdate-list-no-updates.txt", swUpdateList{Answered: true}},
		{"updates/softwareupdate-list-updates-available.txt", swUpdateList{Answered: true, Updates: []swUpdate{
			{Label: "Safari27.0TahoeAuto-27.0", Title: "Safari", Version: "27.0", Recommended: true},
			{Label: "SFSymbolsAuto-27.0", Title: "SF Symbols", Version: "27.0", Recommended: true},
			{Label: "macOS Tahoe 26.7-25G229", Title: "macOS Tahoe 26.7", Version: "26.7", Recommended: true, Restart: true},
			{Label: "macOS 27-26A428", Title: "macOS 27", Version: "27", Recommended: true, Restart: true},
		}}},
		// Not softwareupdate output at all: not a known zero.
		{"system_profiler/macos-10.15.2-SPSoftwareDataType.txt", swUpdateList{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got := parseSoftwareUpdateList(fixture(t, tt.file))
			if got.Answered != tt.want.Answered || len(got.Updates) != len(tt.want.Updates) {
				t.Fatalf("got answered=%v %d updates, want answered=%v %d", got.Answered, len(got.Updates), tt.want.Answered, len(tt.want.Updates))
			}
			for i := range got.Updates {
				if got.Updates[i] != tt.want.Updates[i] {
					t.Errorf("update %d: got %+v, want %+v", i, got.Updates[i], tt.want.Updates[i])
				}
			}
		})
	}
}

func FuzzParseSystemVersion(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseSystemVersion(b) })
}

func FuzzParseInstallHistory(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseInstallHistory(b)
		if err != nil {
			return
		}
		lastOSUpdate(entries)
		firstOSInstall(entries)
	})
}

func FuzzParseSoftwareUpdateList(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _ = parseSoftwareUpdateList(b) })
}
