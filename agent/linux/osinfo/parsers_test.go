package osinfo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

const fixtures = "../../../testdata/fixtures/linux"

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file                                 string
		name, id, versionID, codename, build string
	}{
		{"debian-12-roster-vm", "Debian GNU/Linux", "debian", "12", "bookworm", ""},
		{"debian-9", "Debian GNU/Linux", "debian", "9", "stretch", ""},
		{"ubuntu-18.04", "Ubuntu", "ubuntu", "18.04", "bionic", ""},
		{"ubuntu-20.04.2", "Ubuntu", "ubuntu", "20.04", "focal", ""},
		{"centos-7", "CentOS Linux", "centos", "7", "Core", ""},
		{"rhel-9", "Red Hat Enterprise Linux", "rhel", "9.0", "Plow", ""},
		// VERSION_CODENAME="" and a variant in VERSION's parentheses: no codename.
		{"fedora-30", "Fedora", "fedora", "30", "", ""},
		{"opensuse-leap-15.4", "openSUSE Leap", "opensuse-leap", "15.4", "", ""},
		{"alpine-3.17", "Alpine Linux", "alpine", "3.17.3", "", ""},
		{"archlinux", "Arch Linux ARM", "archarm", "", "", "rolling"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOSRelease(bytes.NewReader(fixture(t, "os-release/"+tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.name || got.ID != tt.id || got.VersionID != tt.versionID || got.Codename != tt.codename || got.BuildID != tt.build {
				t.Errorf("got name=%q id=%q version_id=%q codename=%q build=%q, want %q %q %q %q %q",
					got.Name, got.ID, got.VersionID, got.Codename, got.BuildID, tt.name, tt.id, tt.versionID, tt.codename, tt.build)
			}
		})
	}
}

// TestParseOSReleaseMatchesJC compares every key with the parse jc ships
// beside the same captures.
func TestParseOSReleaseMatchesJC(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"centos-7", "ubuntu-18.04"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want map[string]string
			if err := json.Unmarshal(fixture(t, "os-release/"+name+".expected.json"), &want); err != nil {
				t.Fatal(err)
			}
			got, err := ParseOSRelease(bytes.NewReader(fixture(t, "os-release/"+name)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got.Fields); diff != "" {
				t.Errorf("(-jc +ours):\n%s", diff)
			}
		})
	}
}

func TestParseDpkgLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		loc  *time.Location
		want time.Time
	}{
		{"utc", time.UTC, time.Date(2026, 11, 23, 18, 23, 33, 0, time.UTC)},
		// dpkg writes local time: on a host at UTC+2 the same line is two hours earlier.
		{"utc+2", time.FixedZone("test", 2*3600), time.Date(2026, 11, 23, 16, 23, 33, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, ok, err := ParseDpkgLog(bytes.NewReader(fixture(t, "logs/debian-12-roster-vm-dpkg.log")), tt.loc)
			if err != nil || !ok {
				t.Fatalf("got ok=%v err=%v, want an event", ok, err)
			}
			if !ev.At.Equal(tt.want) || ev.Action != "install" || ev.Package != "fusioninventory-agent:all" {
				t.Errorf("got %v %s %s, want %v install fusioninventory-agent:all", ev.At.UTC(), ev.Action, ev.Package, tt.want)
			}
		})
	}
}

func TestParseAptHistory(t *testing.T) {
	t.Parallel()
	ev, ok, err := ParseAptHistory(bytes.NewReader(fixture(t, "logs/debian-12-roster-vm-apt-history.log")), time.UTC)
	if err != nil || !ok {
		t.Fatalf("got ok=%v err=%v, want an event", ok, err)
	}
	// The last transaction installed fusioninventory-agent and upgraded perl.
	want := time.Date(2026, 11, 23, 18, 23, 37, 0, time.UTC)
	if !ev.At.Equal(want) || ev.Action != "upgrade" {
		t.Errorf("got %v %s, want %v upgrade", ev.At, ev.Action, want)
	}
}

func TestParseZyppHistory(t *testing.T) {
	t.Parallel()
	ev, ok, err := ParseZyppHistory(bytes.NewReader(fixture(t, "logs/libzypp-docs-zypp-history.txt")), time.UTC)
	if err != nil || !ok {
		t.Fatalf("got ok=%v err=%v, want an event", ok, err)
	}
	want := time.Date(2008, 9, 24, 11, 53, 45, 0, time.UTC)
	if !ev.At.Equal(want) || ev.Package != "amarok" {
		t.Errorf("got %v %s, want %v amarok", ev.At, ev.Package, want)
	}
}

func TestParseAptSimulation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		count    int
		security int
		first    wire.PendingUpdate
	}{
		{
			file: "debian-12-roster-vm-apt-get-just-print-qq-full-upgrade.txt", count: 132, security: 77,
			first: wire.PendingUpdate{Name: "base-files", Version: "12.4+deb12u15", Installed: "12.4+deb12u11"},
		},
		{
			file: "debian-12-apt-get-just-print-qq-full-upgrade.txt", count: 15, security: 0,
			first: wire.PendingUpdate{Name: "tzdata", Version: "2025b-0+deb12u1", Installed: "2025a-0+deb12u1"},
		},
		{
			file: "ubuntu-22.04-apt-get-just-print-qq-full-upgrade.txt", count: 42, security: 0,
			first: wire.PendingUpdate{Name: "libpam0g", Version: "1.4.0-11ubuntu2.5", Installed: "1.4.0-11ubuntu2.4"},
		},
		{
			// jc's sample repeats dpkg's Inst line; it is one pending update.
			file: "debian-10-apt-get-sqq-upgrade.txt", count: 2, security: 1,
			first: wire.PendingUpdate{Name: "dpkg", Version: "1.19.8", Installed: "1.19.7", Security: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAptSimulation(bytes.NewReader(fixture(t, "updates/"+tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			sec := 0
			for _, p := range got {
				if p.Security {
					sec++
				}
			}
			if len(got) != tt.count || sec != tt.security {
				t.Fatalf("got %d pending, %d security, want %d, %d", len(got), sec, tt.count, tt.security)
			}
			if diff := cmp.Diff(tt.first, got[0]); diff != "" {
				t.Errorf("first (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAptSimulationNewDependency(t *testing.T) {
	t.Parallel()
	got, err := ParseAptSimulation(bytes.NewReader(fixture(t, "updates/debian-12-apt-get-just-print-qq-full-upgrade.txt")))
	if err != nil {
		t.Fatal(err)
	}
	// "Inst libgirepository-1.0-1 (1.74.0-3 Debian:12.10/stable [amd64])":
	// a new package the upgrade pulls in, so nothing is installed yet.
	want := wire.PendingUpdate{Name: "libgirepository-1.0-1", Version: "1.74.0-3"}
	if diff := cmp.Diff(want, got[1]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseDNFCheckUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		count int
		check map[int]wire.PendingUpdate
	}{
		{
			file: "rocky-8.8-dnf-check-update.txt", count: 184,
			check: map[int]wire.PendingUpdate{0: {Name: "NetworkManager", Version: "1:1.40.16-19.el8_10"}, 183: {Name: "zlib", Version: "1.2.11-26.el8"}},
		},
		{
			file: "oracle-linux-8-dnf-check-update.txt", count: 73,
			check: map[int]wire.PendingUpdate{0: {Name: "bpftool", Version: "5.15.0-307.178.5.el8uek"}, 72: {Name: "tzdata", Version: "2025b-1.0.1.el8"}},
		},
		{
			// yum, with plugin chatter before the list and a name too
			// long for its column wrapping version and repo to the next line.
			file: "centos-7-yum-check-update.txt", count: 41,
			check: map[int]wire.PendingUpdate{0: {Name: "bind-export-libs", Version: "32:9.11.4-26.P2.el7_9.16"}, 10: {Name: "google-compute-engine-oslogin", Version: "1:20240415.00-g1.el7"}, 40: {Name: "tzdata", Version: "2024a-1.el7"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDNFCheckUpdate(bytes.NewReader(fixture(t, "updates/"+tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.count {
				t.Fatalf("got %d pending, want %d", len(got), tt.count)
			}
			for i, want := range tt.check {
				if diff := cmp.Diff(want, got[i]); diff != "" {
					t.Errorf("entry %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestParseZypperListUpdates(t *testing.T) {
	t.Parallel()
	got, err := ParseZypperListUpdates(bytes.NewReader(fixture(t, "updates/sles-15-zypper-list-updates.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 117 {
		t.Fatalf("got %d pending, want 117", len(got))
	}
	want := wire.PendingUpdate{Name: "aaa_base", Version: "84.87+git20180409.04c9dae-150300.10.6.2", Installed: "84.87+git20180409.04c9dae-150300.10.3.1"}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("first (-want +got):\n%s", diff)
	}
}

func TestCompareKernelVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-21-amd64", "6.1.0-18-amd64", 1},
		{"6.1.0-9-amd64", "6.1.0-18-amd64", -1},
		{"5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.13.1.el9_3.x86_64", -1},
		{"4.18.0-553.40.1.el8_10.x86_64", "4.18.0-513.9.1.el8_9.x86_64", 1},
		{"6.18.44-fc-v657", "6.18.44-fc-v657", 0},
		{"6.10.0", "6.9.12", 1},
	}
	for _, tt := range tests {
		if got := CompareKernelVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareKernelVersions(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareKernelVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareKernelVersions(%q, %q): got %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}
