package windows

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const fixtureDir = "../../testdata/fixtures/windows"

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utc(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestParseSysteminfo(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		file string
		want Systeminfo
	}{
		{
			file: "win10-20h2-vmware-en-US-systeminfo.txt",
			want: Systeminfo{
				English: true, HostName: "DESKTOP-WIN01", OSName: "Microsoft Windows 10 Enterprise",
				OSVersion: "10.0.19042", OSBuild: "19042",
				// 2/16/2021 11:20:27 AM Pacific standard time.
				InstallDate:  utc("2021-02-16T19:20:27Z"),
				Manufacturer: "VMware, Inc.", Model: "VMware7,1", SystemType: "x64-based PC",
				Processors: []string{"Intel64 Family 6 Model 158 Stepping 13 GenuineIntel ~2400 Mhz"},
				BIOSVendor: "VMware, Inc.", BIOSVersion: "VMW71.00V.11111111.B64.2008100111", BIOSDate: "2020-08-10",
				MemoryBytes: 2047 * mib, WindowsDir: `C:\Windows`, TimeZone: "(UTC-08:00) Pacific Time (US & Canada)",
				Hotfixes: []string{"KB4578968", "KB4562830", "KB4570334", "KB4580325", "KB4586864", "KB4594440"},
				NICs:     []string{"Intel(R) 82574L Gigabit Network Connection"},
			},
		},
		{
			file: "server-2022-systeminfo.txt",
			want: Systeminfo{
				English: true, HostName: "WIN-RIBN7SM07BK", OSName: "Microsoft Windows Server 2022 Standard",
				OSVersion: "10.0.20348", OSBuild: "20348",
				// 10/1/2021 4:15:34 PM Pacific daylight time.
				InstallDate:  utc("2021-10-01T23:15:34Z"),
				Manufacturer: "Microsoft Corporation", Model: "Virtual Machine", SystemType: "x64-based PC",
				Processors: []string{"Intel64 Family 6 Model 158 Stepping 9 GenuineIntel ~2808 Mhz"},
				BIOSVendor: "Microsoft Corporation", BIOSVersion: "Hyper-V UEFI Release v4.0", BIOSDate: "2019-12-17",
				MemoryBytes: 2047 * mib, WindowsDir: `C:\Windows`, TimeZone: "(UTC-08:00) Pacific Time (US & Canada)",
				Hotfixes: []string{"KB5004330", "KB5005039", "KB5005552"},
				NICs:     []string{"Microsoft Hyper-V Network Adapter"},
			},
		},
		{
			// Day-first dates with dashes, and a label longer than the
			// value column ("Virtualization-based security:").
			file: "win11-24h2-ltsc-hyperv-systeminfo.txt",
			want: Systeminfo{
				English: true, HostName: "WINXI24H2LTSC", OSName: "Microsoft Windows 11 Enterprise LTSC",
				OSVersion: "10.0.26100", OSBuild: "26100",
				InstallDate:  utc("2024-05-24T10:20:28Z"),
				Manufacturer: "Microsoft Corporation", Model: "Virtual Machine", SystemType: "x64-based PC",
				Processors: []string{"Intel64 Family 6 Model 158 Stepping 9 GenuineIntel ~2808 Mhz"},
				BIOSVendor: "Microsoft Corporation", BIOSVersion: "Hyper-V UEFI Release v4.1", BIOSDate: "2020-12-03",
				MemoryBytes: 4095 * mib, WindowsDir: `C:\WINDOWS`, TimeZone: "(UTC-08:00) Pacific Time (US & Canada)",
				Hotfixes: []string{"KB5037589", "KB5037783", "KB5039449"},
				NICs:     []string{"Microsoft Hyper-V Network Adapter"},
			},
		},
		{
			// GBK bytes; fields found by position; CJK labels are two
			// console cells wide.
			file: "win10-1809-ltsc-zh-CN-systeminfo-cp936.txt",
			want: Systeminfo{
				HostName: "DESKTOP-0CQH3P2", OSName: "Microsoft Windows 10 企业版 LTSC",
				OSVersion: "10.0.17763", OSBuild: "17763",
				// 2019/1/24 9:46:29 in a zone localised as (UTC+01:00) with
				// Chinese city names: standard offset only.
				InstallDate:  utc("2019-01-24T08:46:29Z"),
				Manufacturer: "VMware, Inc.", Model: "VMware7,1", SystemType: "x64-based PC",
				Processors: []string{"Intel64 Family 6 Model 158 Stepping 9 GenuineIntel ~2808 Mhz"},
				BIOSVendor: "VMware, Inc.", BIOSVersion: "VMW71.00V.9694812.B64.1808210100", BIOSDate: "2018-08-21",
				MemoryBytes: 2047 * mib, WindowsDir: `C:\Windows`, TimeZone: "(UTC+01:00) 阿姆斯特丹，柏林，伯尔尼，罗马，斯德哥尔摩，维也纳",
				Hotfixes: []string{"KB4464455"},
				NICs:     []string{"Intel(R) 82574L Gigabit Network Connection"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSysteminfo(DecodeOutput(readFixture(t, "systeminfo/"+tt.file), ""))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Problems = map[string]string{}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The French capture (UTF-16LE from PowerShell) has 93 hotfixes and NBSP
// thousands separators; checked field by field rather than in full.
func TestParseSysteminfoFrench(t *testing.T) {
	t.Parallel()
	got, err := ParseSysteminfo(DecodeOutput(readFixture(t, "systeminfo/win7-sp1-fr-FR-powershell-utf16le.txt"), ""))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"host", got.HostName, "WIN-IDKKFN87EL8"},
		{"os", got.OSName, "Microsoft Windows\u00a07 Entreprise N"}, // NBSP as printed
		{"version", got.OSVersion, "6.1.7601"},
		{"model", got.Model, "VMware Virtual Platform"},
		{"bios", got.BIOSVersion, "Phoenix Technologies LTD 6.00"},
		{"bios date", got.BIOSDate, "2018-04-13"},
		{"install", got.InstallDate.Format(time.RFC3339), "2019-04-29T17:52:20Z"},
		{"nic", got.NICs[0], "Connexion réseau Intel(R) PRO/1000 MT"},
		{"cpu", got.Processors[0], "Intel64 Family 6 Model 158 Stepping 9 GenuineIntel ~2808 MHz"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.English {
		t.Error("got English labels, want localised")
	}
	if got.MemoryBytes != 2047<<20 {
		t.Errorf("got memory %d, want %d", got.MemoryBytes, 2047<<20)
	}
	if len(got.Hotfixes) != 93 || got.Hotfixes[92] != "KB4493472" {
		t.Errorf("got %d hotfixes ending %v, want 93 ending KB4493472", len(got.Hotfixes), got.Hotfixes[len(got.Hotfixes)-1:])
	}
}

func TestParseSysteminfoRejects(t *testing.T) {
	t.Parallel()
	// Other real outputs are not systeminfo.
	for _, f := range []string{"wmic-qfe/win10-1809-wmic-qfe-utf16le.txt", "manage-bde/win-doc-operations-guide-manage-bde-status.txt"} {
		if _, err := ParseSysteminfo(DecodeOutput(readFixture(t, f), "")); err == nil {
			t.Errorf("%s: got nil error", f)
		}
	}
}

func FuzzParseSysteminfo(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "systeminfo", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := ParseSysteminfo(DecodeOutput(b, ""))
		if err == nil && si == nil {
			t.Fatal("nil result without error")
		}
	})
}
