package windows

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/wire"
)

// wineRegistry loads the real regedit exports captured under Wine 8 on
// Debian 12 (see the fixtures' SOURCES.md). They are Wine's registry, not
// a Windows machine's, but they are real regedit output.
func wineRegistry(t *testing.T) winreg.Registry {
	t.Helper()
	gz := readFixture(t, "regedit-export/wine8-debian12-windows-nt-currentversion.reg.gz")
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	cv, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"registry/currentversion.reg": {Data: cv},
		"registry/bios.reg":           {Data: readFixture(t, "regedit-export/wine8-debian12-hardware-description-system.reg")},
	}
	reg, err := winreg.LoadExports(fsys, "registry")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestCurrentVersionOS(t *testing.T) {
	t.Parallel()
	vals, err := wineRegistry(t).Values(context.Background(), keyCurrentVersion)
	if err != nil {
		t.Fatal(err)
	}
	got, unknown := CurrentVersionOS(vals)
	want := wire.OS{
		Name: "Microsoft Windows 7", ID: "windows", Version: "6.1.7601", Build: "7601",
		InstallDate: utc("2010-05-08T06:15:54Z"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(unknown["build"], "UBR") {
		t.Errorf("got unknown %v, want a build entry naming the missing UBR", unknown)
	}
}

func TestBIOSFacts(t *testing.T) {
	t.Parallel()
	vals, err := wineRegistry(t).Values(context.Background(), keyBIOS)
	if err != nil {
		t.Fatal(err)
	}
	// Wine on this Firecracker VM leaves every SMBIOS string empty: nothing
	// may be reported, in particular no empty-string vendor.
	if diff := cmp.Diff(wire.Hardware{}, BIOSFacts(vals)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestUninstallPackage maps the real Add/Remove Programs values recorded in
// winget's test data (DisplayName, DisplayVersion, Publisher per product
// code). They are fed to the mapping as registry values; they are not a
// regedit export.
func TestUninstallPackage(t *testing.T) {
	t.Parallel()
	raw := strings.TrimPrefix(string(readFixture(t, "arp-values/msstore-apps-arp-uninstall-values.tsv")), "\ufeff")
	var pkgs []wire.Package
	rows := 0
	for _, line := range strings.Split(strings.TrimRight(raw, "\r\n"), "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), "|")
		if len(f) != 7 {
			t.Fatalf("row %q: %d fields, want 7", line, len(f))
		}
		rows++
		vals := map[string]winreg.Value{
			"DisplayName":    {Type: winreg.TypeString, String: f[3]},
			"DisplayVersion": {Type: winreg.TypeString, String: f[4]},
			"Publisher":      {Type: winreg.TypeString, String: f[5]},
		}
		p, ok := UninstallPackage(vals, "x86")
		if !ok {
			t.Fatalf("row %q: entry skipped", line)
		}
		pkgs = append(pkgs, p)
	}
	if rows != 112 || len(pkgs) != 112 {
		t.Fatalf("got %d rows, %d packages, want 112", rows, len(pkgs))
	}
	want := wire.Package{Name: "PowerToys (Preview) x64", Version: "0.57.0", Arch: "x86", Source: wire.SourceRegistry, Publisher: "Microsoft Corporation"}
	if diff := cmp.Diff(want, pkgs[1]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	noVersion := 0
	for _, p := range pkgs {
		if p.Version == "" {
			noVersion++
		}
	}
	if noVersion != 20 {
		t.Errorf("got %d packages without version, want the 20 rows with an empty DisplayVersion", noVersion)
	}

	// The skip rules and InstallDate, applied to the first real row.
	base := map[string]winreg.Value{
		"DisplayName": {Type: winreg.TypeString, String: "Studio Fisioterapico Pro Demo"},
		"Publisher":   {Type: winreg.TypeString, String: "Copyright Esposito Software"},
	}
	with := func(name string, v winreg.Value) map[string]winreg.Value {
		m := map[string]winreg.Value{name: v}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	if _, ok := UninstallPackage(with("SystemComponent", winreg.Value{Type: winreg.TypeDWORD, Uint: 1}), ""); ok {
		t.Error("SystemComponent=1 entry kept")
	}
	if _, ok := UninstallPackage(with("ParentKeyName", winreg.Value{Type: winreg.TypeString, String: "OperatingSystem"}), ""); ok {
		t.Error("update entry with ParentKeyName kept")
	}
	if _, ok := UninstallPackage(map[string]winreg.Value{"Publisher": base["Publisher"]}, ""); ok {
		t.Error("entry without DisplayName kept")
	}
	p, ok := UninstallPackage(with("InstallDate", winreg.Value{Type: winreg.TypeString, String: "20220315"}), "")
	if !ok || p.InstallDate == nil || !p.InstallDate.Equal(time.Date(2022, 3, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v, want install date 2022-03-15", p)
	}
}

// TestProbesOnWineRegistry runs the probes against a host that has the
// Wine registry exports and no command captures.
func TestProbesOnWineRegistry(t *testing.T) {
	t.Parallel()
	h := &host.Host{OS: "windows", FS: fstest.MapFS{}, Exec: host.CapturedRunner{FS: fstest.MapFS{}, Dir: "commands"}, Registry: wineRegistry(t)}
	snap := probe.Run(context.Background(), h, Probes(), probe.Options{Now: func() time.Time { return time.Time{} }})
	status := map[string]string{}
	for _, p := range snap.Probes {
		status[p.Name] = p.Status + " " + p.Message
	}
	wantStatus := map[string]string{
		"hardware/cpu-memory": "not_applicable no api/gopsutil-cpu-memory.json on this captured host",
		"hardware/smbios":     "not_applicable no api/GetSystemFirmwareTable-RSMB.bin on this captured host",
		"hardware":            "ok ",
		"hardware/nics":       "not_applicable no api/GetAdaptersAddresses.json on this captured host",
		"hardware/disks":      "not_applicable no api/PhysicalDrives.json on this captured host",
		"encryption":          "not_applicable manage-bde not found",
		"os":                  "ok ",
		"os/updates":          "not_applicable no api/WindowsUpdate.json on this captured host",
		"os/hotfixes":         "not_applicable wmic not found",
		"software/registry":   `error read uninstall entries: registry key HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall: file does not exist`,
	}
	if diff := cmp.Diff(wantStatus, status); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if snap.OS == nil || snap.OS.Name != "Microsoft Windows 7" || snap.OS.Build != "7601" {
		t.Fatalf("got OS %+v", snap.OS)
	}
	// Neither reboot key's parent is in the export: unknown, not "no".
	if snap.OS.RebootRequired != wire.Unknown || snap.OS.Unknown["reboot_required"] == "" {
		t.Errorf("got reboot %q with reason %q, want unknown with a reason", snap.OS.RebootRequired, snap.OS.Unknown["reboot_required"])
	}
	if snap.Encryption.System.Encrypted != wire.Unknown {
		t.Errorf("got system encrypted %q, want unknown", snap.Encryption.System.Encrypted)
	}
}
