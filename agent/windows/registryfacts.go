package windows

import (
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// Registry keys the probes read.
const (
	keyCurrentVersion = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
	keyBIOS           = `HKLM\HARDWARE\DESCRIPTION\System\BIOS`
	keyAutoUpdate     = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update`
	keyCBS            = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing`
	keyUninstall      = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	keyUninstall32    = `HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`
	keyUsers          = `HKU`
	userUninstall     = `Software\Microsoft\Windows\CurrentVersion\Uninstall`
	keyNls            = `HKLM\SYSTEM\CurrentControlSet\Control\Nls\CodePage`
	keySessionManager = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`
)

func str(vals map[string]winreg.Value, name string) string {
	v, ok := winreg.Lookup(vals, name)
	if !ok {
		return ""
	}
	switch v.Type {
	case winreg.TypeString, winreg.TypeExpandString:
		return strings.TrimSpace(v.String)
	case winreg.TypeDWORD, winreg.TypeQWORD:
		return strconv.FormatUint(v.Uint, 10)
	}
	return ""
}

func num(vals map[string]winreg.Value, name string) (uint64, bool) {
	v, ok := winreg.Lookup(vals, name)
	if !ok {
		return 0, false
	}
	switch v.Type {
	case winreg.TypeDWORD, winreg.TypeQWORD:
		return v.Uint, true
	case winreg.TypeString:
		n, err := strconv.ParseUint(strings.TrimSpace(v.String), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// CurrentVersionOS reads the OS facts in HKLM\SOFTWARE\Microsoft\Windows
// NT\CurrentVersion. Unknown lists facts the key lacks (wire field ->
// reason).
func CurrentVersionOS(vals map[string]winreg.Value) (wire.OS, map[string]string) {
	o := wire.OS{ID: "windows"}
	unknown := map[string]string{}
	o.Name = str(vals, "ProductName")
	o.Edition = str(vals, "EditionID")
	o.Codename = str(vals, "DisplayVersion")
	if o.Codename == "" {
		// Before 20H2 the feature release was only in ReleaseId ("2009").
		o.Codename = str(vals, "ReleaseId")
	}
	build := str(vals, "CurrentBuild")
	if build == "" {
		build = str(vals, "CurrentBuildNumber")
	}
	major, okMaj := num(vals, "CurrentMajorVersionNumber")
	minor, okMin := num(vals, "CurrentMinorVersionNumber")
	switch {
	case okMaj && okMin && build != "":
		o.Version = strconv.FormatUint(major, 10) + "." + strconv.FormatUint(minor, 10) + "." + build
	case str(vals, "CurrentVersion") != "" && build != "":
		o.Version = str(vals, "CurrentVersion") + "." + build
	}
	if ubr, ok := num(vals, "UBR"); ok && build != "" {
		o.Build = build + "." + strconv.FormatUint(ubr, 10)
	} else if build != "" {
		o.Build = build
		unknown["build"] = "no UBR value under CurrentVersion: update build revision unknown"
	} else {
		unknown["build"] = "no CurrentBuild value under CurrentVersion"
	}
	// Windows 11 kept "Windows 10" in ProductName; build 22000 is the first
	// Windows 11 release.
	if b, err := strconv.Atoi(build); err == nil && b >= 22000 && strings.HasPrefix(o.Name, "Windows 10") {
		o.Name = "Windows 11" + strings.TrimPrefix(o.Name, "Windows 10")
	}
	if secs, ok := num(vals, "InstallDate"); ok && secs > 0 {
		t := time.Unix(int64(secs), 0).UTC()
		o.InstallDate = &t
	} else {
		unknown["install_date"] = "no InstallDate value under CurrentVersion"
	}
	return o, unknown
}

// BIOSFacts reads HKLM\HARDWARE\DESCRIPTION\System\BIOS, which Windows
// fills from SMBIOS at boot. It has no serial numbers.
func BIOSFacts(vals map[string]winreg.Value) wire.Hardware {
	hw := wire.Hardware{
		Vendor:      identity.Text(str(vals, "SystemManufacturer")),
		Model:       identity.Text(str(vals, "SystemProductName")),
		BIOSVendor:  identity.Text(str(vals, "BIOSVendor")),
		BIOSVersion: identity.Text(str(vals, "BIOSVersion")),
	}
	// BIOSReleaseDate is SMBIOS's MM/DD/YYYY.
	if d, err := parseDate(str(vals, "BIOSReleaseDate"), orderMDY); err == nil {
		hw.BIOSDate = d.Format("2006-01-02")
	}
	return hw
}

// UninstallPackage maps one Uninstall subkey's values to a package. ok is
// false for entries Add/Remove Programs does not show: no DisplayName,
// SystemComponent=1, or a ParentKeyName (an update of another entry).
func UninstallPackage(vals map[string]winreg.Value, arch string) (wire.Package, bool) {
	name := str(vals, "DisplayName")
	if name == "" {
		return wire.Package{}, false
	}
	if n, ok := num(vals, "SystemComponent"); ok && n == 1 {
		return wire.Package{}, false
	}
	if str(vals, "ParentKeyName") != "" {
		return wire.Package{}, false
	}
	p := wire.Package{
		Name:      name,
		Version:   str(vals, "DisplayVersion"),
		Arch:      arch,
		Source:    wire.SourceRegistry,
		Publisher: str(vals, "Publisher"),
		Location:  strings.TrimRight(str(vals, "InstallLocation"), `\`),
	}
	if d := str(vals, "InstallDate"); len(d) == 8 {
		if t, err := time.Parse("20060102", d); err == nil {
			p.InstallDate = &t
		}
	}
	return p, true
}
