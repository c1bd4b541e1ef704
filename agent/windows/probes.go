// Package windows holds the agent's Windows probes: hardware identity from
// systeminfo and the registry's SMBIOS copy, memory and processors through
// gopsutil, NICs from GetAdaptersAddresses, disks from
// IOCTL_STORAGE_QUERY_PROPERTY, BitLocker state from Get-BitLockerVolume's
// JSON (manage-bde as fallback), OS version and patch level from the
// CurrentVersion key, the Windows Update Agent (COM, go-ole), systeminfo
// and wmic qfe, and installed software from the Uninstall keys.
//
// Each probe is thin glue around a pure parser (systeminfo.go, wmicqfe.go,
// managebde.go, bitlockervolume.go, registryfacts.go, adapters.go,
// drives.go, wua.go, cpumem.go) tested on Linux against real captures, so
// those files carry no build tag. Sources that are in-process API calls
// rather than commands or files live in *_windows.go files; apiSource
// turns their answer into a JSON "captured form" that the live path parses
// too, writes into a --capture tree (api/*.json) and reads back on a
// captured host, so live and captured hosts run the same parsing.
//
// gopsutil v4 is used where it wraps a call the agent needs (memory size,
// processor packages and core counts) and goes through the same captured
// form. It is not used for partitions or boot time: BitLocker's per-volume
// view already names every fixed volume, and no fact on the wire needs the
// boot time.
package windows

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{
		// Before "hardware": where gopsutil answers, its CPU (with cores and
		// threads) wins over systeminfo's, which merging cannot combine.
		probe.Func{ProbeName: "hardware/cpu-memory", ProbeArea: wire.AreaHardware, Fn: collectCPUMemory},
		probe.Func{ProbeName: "hardware/smbios", ProbeArea: wire.AreaHardware, Fn: collectSMBIOS},
		probe.Func{ProbeName: "hardware", ProbeArea: wire.AreaHardware, Cmds: []string{"systeminfo"}, Fn: collectHardware},
		probe.Func{ProbeName: "hardware/nics", ProbeArea: wire.AreaHardware, Fn: collectNICs},
		probe.Func{ProbeName: "hardware/disks", ProbeArea: wire.AreaHardware, Fn: collectDisks},
		probe.Func{ProbeName: "encryption", ProbeArea: wire.AreaEncryption, Cmds: []string{host.CommandLine("powershell", psArgs(psBitLocker)...), "manage-bde -status", "systeminfo"}, Fn: collectEncryption},
		probe.Func{ProbeName: "os", ProbeArea: wire.AreaOS, Cmds: []string{"systeminfo"}, Fn: collectOS},
		probe.Func{ProbeName: "os/updates", ProbeArea: wire.AreaOS, Fn: collectUpdates},
		probe.Func{ProbeName: "os/hotfixes", ProbeArea: wire.AreaOS, Cmds: []string{"wmic qfe"}, Fn: collectHotfixes},
		probe.Func{ProbeName: "software/registry", ProbeArea: wire.AreaSoftware, Fn: collectSoftware},
	}
}

// Reasons shared by several probes.
const (
	reasonNoSMBIOSQuery = "not collected: the agent does not query Win32_BIOS / Win32_ComputerSystemProduct yet (no real capture of their output to test a parser against)"
	reasonNoRegistry    = "no registry to read (captured host without registry exports)"
)

// oemCodePage returns the OEM code page from the registry ("" if unknown),
// which console tools use for redirected output.
func oemCodePage(ctx context.Context, h *host.Host) string {
	if h.Registry == nil {
		return ""
	}
	vals, err := h.Registry.Values(ctx, keyNls)
	if err != nil {
		return ""
	}
	return str(vals, "OEMCP")
}

// runText runs a command and decodes its output to UTF-8. A command that
// exits non-zero still returns its decoded output with the error.
func runText(ctx context.Context, h *host.Host, name string, args ...string) (string, error) {
	out, err := h.Run(ctx, name, args...)
	var ee *host.ExitError
	if errors.As(err, &ee) && len(out) == 0 {
		out = ee.Stdout
	}
	return DecodeOutput(out, oemCodePage(ctx, h)), err
}

// systeminfo runs and parses systeminfo. notFound is true when the command
// is missing (a captured host without that capture).
func systeminfo(ctx context.Context, h *host.Host) (si *Systeminfo, notFound bool, err error) {
	text, err := runText(ctx, h, "systeminfo")
	if errors.Is(err, host.ErrNotFound) {
		return nil, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("run systeminfo: %w", err)
	}
	si, err = ParseSysteminfo(text)
	if err != nil {
		return nil, false, fmt.Errorf("parse systeminfo: %w", err)
	}
	return si, false, nil
}

func collectHardware(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	var errs []error
	haveSource := false
	if h.Registry != nil {
		vals, err := h.Registry.Values(ctx, keyBIOS)
		switch {
		case err == nil:
			haveSource = true
			bios := BIOSFacts(vals)
			hw.Vendor, hw.Model = bios.Vendor, bios.Model
			hw.BIOSVendor, hw.BIOSVersion, hw.BIOSDate = bios.BIOSVendor, bios.BIOSVersion, bios.BIOSDate
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("read SMBIOS registry key: %w", err))
		}
	}
	si, notFound, err := systeminfo(ctx, h)
	switch {
	case notFound:
	case err != nil:
		errs = append(errs, err)
	default:
		haveSource = true
		fillHardware(hw, si)
	}
	for field, reason := range map[string]string{
		"system_serial": reasonNoSMBIOSQuery,
		"system_uuid":   reasonNoSMBIOSQuery,
		"board_serial":  reasonNoSMBIOSQuery,
		"asset_tag":     reasonNoSMBIOSQuery,
		"chassis_type":  reasonNoSMBIOSQuery,
	} {
		hw.Unknown[field] = reason
	}
	if hw.Hostname == "" {
		hw.Unknown["hostname"] = "systeminfo not available"
	}
	if hw.Vendor == "" && hw.Model == "" {
		hw.Unknown["vendor"] = "neither the SMBIOS registry key nor systeminfo is available"
	}
	if hw.MemoryBytes == 0 {
		hw.Unknown["memory_bytes"] = "systeminfo not available"
	}
	if hw.Virtual == "" || hw.Virtual == wire.Unknown {
		hw.Virtual = wire.Unknown
		if hw.Unknown["virtual"] == "" {
			hw.Unknown["virtual"] = "no manufacturer or model to recognise a hypervisor by"
		}
	}
	if !haveSource && len(errs) == 0 {
		return probe.NotApplicable("no systeminfo output and no registry on this host")
	}
	return errors.Join(errs...)
}

// hypervisors maps manufacturer/model text to a hypervisor name. Checked
// in order against "manufacturer model".
var hypervisors = []struct{ match, name string }{
	{"vmware", "VMware"},
	{"microsoft corporation virtual machine", "Hyper-V"},
	{"virtualbox", "VirtualBox"},
	{"innotek", "VirtualBox"},
	{"qemu", "QEMU"},
	{"xen", "Xen"},
	{"amazon ec2", "Amazon EC2"},
	{"google compute engine", "Google Compute Engine"},
	{"parallels", "Parallels"},
}

var cpuMHzRe = regexp.MustCompile(`\s*~\s*\d+\s*[Mm][Hh][Zz]\s*$`)

func fillHardware(hw *wire.Hardware, si *Systeminfo) {
	hw.Hostname = identity.Clean(si.HostName)
	if hw.Vendor == "" {
		hw.Vendor = identity.Text(si.Manufacturer)
	}
	if hw.Model == "" {
		hw.Model = identity.Text(si.Model)
	}
	if hw.BIOSVersion == "" {
		hw.BIOSVendor = identity.Text(si.BIOSVendor)
		hw.BIOSVersion = identity.Text(si.BIOSVersion)
	}
	if hw.BIOSDate == "" {
		hw.BIOSDate = si.BIOSDate
	}
	hw.MemoryBytes = si.MemoryBytes
	if len(si.Processors) > 0 {
		cpu := &wire.CPU{Sockets: len(si.Processors), Arch: archOf(si.SystemType)}
		cpu.Model = cpuMHzRe.ReplaceAllString(si.Processors[0], "")
		for _, v := range []string{"GenuineIntel", "AuthenticAMD"} {
			if strings.HasSuffix(cpu.Model, v) {
				cpu.Vendor = v
			}
		}
		hw.CPU = cpu
	}
	for field, reason := range si.Problems {
		if field == "bios_date" {
			hw.Unknown[field] = reason
		}
	}
	who := strings.ToLower(si.Manufacturer + " " + si.Model)
	for _, hv := range hypervisors {
		if strings.Contains(who, hv.match) {
			hw.Virtual, hw.Hypervisor, hw.FormFactor = wire.Yes, hv.name, "vm"
			return
		}
	}
	hw.Unknown["virtual"] = fmt.Sprintf("manufacturer %q / model %q is not a known hypervisor; physical or unrecognised", si.Manufacturer, si.Model)
}

// archOf maps systeminfo's System Type to the uname-style names the other
// platforms report.
func archOf(systemType string) string {
	switch strings.ToLower(strings.TrimSuffix(systemType, "-based PC")) {
	case "x64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "x86":
		return "i686"
	}
	return ""
}

func collectEncryption(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	enc := &wire.Encryption{Volumes: []wire.Volume{}}
	s.Encryption = enc
	vols, psErr := bitLockerFromPowerShell(ctx, h)
	var err error
	var text string
	if len(vols) == 0 {
		// manage-bde is the fallback: its labels are translated, so it only
		// answers on English systems.
		text, err = runText(ctx, h, "manage-bde", "-status")
		if errors.Is(err, host.ErrNotFound) {
			reason := "manage-bde is not available on this host: BitLocker state unknown"
			if psErr != nil {
				reason = "neither Get-BitLockerVolume (" + psErr.Error() + ") nor manage-bde is available: BitLocker state unknown"
			}
			enc.System = wire.VolumeSummary{Encrypted: wire.Unknown, Status: wire.StateUnknown, Reason: reason}
			return probe.NotApplicable("manage-bde not found")
		}
		vols = ParseManageBDE(text)
	}
	if err != nil && len(vols) == 0 {
		reason := "manage-bde -status failed: " + err.Error()
		if strings.Contains(strings.ToLower(text+err.Error()), "denied") {
			reason = "manage-bde -status needs administrator rights"
		}
		enc.System = wire.VolumeSummary{Encrypted: wire.Unknown, Status: wire.StateUnknown, Reason: reason}
		return fmt.Errorf("run manage-bde -status: %w", err)
	}
	if len(vols) == 0 {
		enc.System = wire.VolumeSummary{Encrypted: wire.Unknown, Status: wire.StateUnknown,
			Reason: "manage-bde -status listed no volumes (or its output is not in English)"}
		return errors.New("parse manage-bde -status: no volumes found")
	}
	sysIdx := -1
	for i, v := range vols {
		w := v.Wire()
		enc.Volumes = append(enc.Volumes, w)
		if v.OSVolume {
			sysIdx = i
		}
	}
	if sysIdx < 0 {
		// No "[OS Volume]" marker: fall back to the Windows directory's drive.
		drive := systemDrive(ctx, h)
		for i := range enc.Volumes {
			if drive != "" && strings.EqualFold(enc.Volumes[i].MountPoint, drive) {
				sysIdx = i
				enc.Volumes[i].System = true
			}
		}
	}
	if sysIdx < 0 {
		enc.System = wire.VolumeSummary{Encrypted: wire.Unknown, Status: wire.StateUnknown,
			Reason: "manage-bde -status did not show the system volume"}
		return err
	}
	v := enc.Volumes[sysIdx]
	enc.System = wire.VolumeSummary{MountPoint: v.MountPoint, Encrypted: v.Encrypted, Scheme: v.Scheme, Status: v.Status, Reason: v.Reason}
	if err != nil {
		return fmt.Errorf("run manage-bde -status: %w", err)
	}
	return nil
}

// systemDrive is the drive Windows runs from ("C:"), from the registry's
// SystemRoot or systeminfo's Windows Directory; "" when neither says.
func systemDrive(ctx context.Context, h *host.Host) string {
	if h.Registry != nil {
		if vals, err := h.Registry.Values(ctx, keyCurrentVersion); err == nil {
			if root := str(vals, "SystemRoot"); len(root) >= 2 && root[1] == ':' {
				return strings.ToUpper(root[:2])
			}
		}
	}
	if si, _, err := systeminfo(ctx, h); err == nil && len(si.WindowsDir) >= 2 && si.WindowsDir[1] == ':' {
		return strings.ToUpper(si.WindowsDir[:2])
	}
	return ""
}

func collectOS(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := &wire.OS{Unknown: map[string]string{}}
	s.OS = o
	var errs []error
	haveSource := false
	if h.Registry != nil {
		vals, err := h.Registry.Values(ctx, keyCurrentVersion)
		switch {
		case err == nil:
			haveSource = true
			cv, unknown := CurrentVersionOS(vals)
			*o = cv
			o.Unknown = unknown
		case errors.Is(err, fs.ErrNotExist):
			o.Unknown["name"] = "registry has no CurrentVersion key"
		default:
			errs = append(errs, fmt.Errorf("read CurrentVersion: %w", err))
		}
		tri, reason := rebootRequired(ctx, h.Registry)
		o.RebootRequired = tri
		if tri == wire.Unknown {
			o.Unknown["reboot_required"] = reason
		}
	} else {
		o.RebootRequired = wire.Unknown
		o.Unknown["reboot_required"] = reasonNoRegistry
	}
	si, notFound, err := systeminfo(ctx, h)
	switch {
	case notFound:
	case err != nil:
		errs = append(errs, err)
	default:
		haveSource = true
		o.ID = "windows"
		if o.Name == "" {
			o.Name = identity.Clean(si.OSName)
		}
		if o.Version == "" {
			o.Version = si.OSVersion
		}
		if o.Build == "" && si.OSBuild != "" {
			// systeminfo has no update build revision (UBR).
			o.Build = si.OSBuild
		}
		if o.InstallDate == nil {
			o.InstallDate = si.InstallDate
			if r, ok := si.Problems["install_date"]; ok && si.InstallDate == nil {
				o.Unknown["install_date"] = r
			}
		}
		if o.Arch == "" {
			o.Arch = archOf(si.SystemType)
		}
	}
	if !haveSource && len(errs) == 0 {
		o.Unknown["name"] = "neither the registry nor systeminfo is available"
		return probe.NotApplicable("no systeminfo output and no registry on this host")
	}
	return errors.Join(errs...)
}

// rebootRequired checks the two keys Windows creates while a reboot is
// pending, and the pending file renames. A key's absence only means "no" when its parent was read: an
// export that does not cover the parent cannot tell.
func rebootRequired(ctx context.Context, reg winreg.Registry) (wire.Tri, string) {
	checked := 0
	for _, k := range []struct{ parent, child string }{
		{keyAutoUpdate, "RebootRequired"},
		{keyCBS, "RebootPending"},
	} {
		subs, err := reg.Subkeys(ctx, k.parent)
		if err != nil {
			continue
		}
		checked++
		for _, s := range subs {
			if strings.EqualFold(s, k.child) {
				return wire.Yes, ""
			}
		}
	}
	// Session Manager's PendingFileRenameOperations lists files Windows
	// replaces at the next boot (servicing and installers that hit files
	// in use). It only adds a yes: absent keys above still mean unknown.
	if vals, err := reg.Values(ctx, keySessionManager); err == nil {
		if v, ok := winreg.Lookup(vals, "PendingFileRenameOperations"); ok && pendingRenames(v) {
			return wire.Yes, ""
		}
	}
	if checked == 2 {
		return wire.No, ""
	}
	return wire.Unknown, "the Windows Update and Component Based Servicing keys could not be read"
}

func collectHotfixes(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	o := &wire.OS{Unknown: map[string]string{}}
	s.OS = o
	text, err := runText(ctx, h, "wmic", "qfe")
	if errors.Is(err, host.ErrNotFound) {
		o.Unknown["last_update_at"] = "wmic is not available on this host: hotfix install dates unknown"
		return probe.NotApplicable("wmic not found")
	}
	if err != nil {
		o.Unknown["last_update_at"] = "wmic qfe failed: " + exitReason(ctx, h, err)
		return fmt.Errorf("run wmic qfe: %s", exitReason(ctx, h, err))
	}
	hs, err := ParseWmicQFE(text)
	if err != nil {
		o.Unknown["last_update_at"] = "wmic qfe output not understood"
		return fmt.Errorf("parse wmic qfe: %w", err)
	}
	if t := LatestHotfix(hs); t != nil {
		o.LastUpdateAt = t
		o.LastUpdateSource = "hotfix"
	} else {
		o.Unknown["last_update_at"] = strconv.Itoa(len(hs)) + " hotfixes listed, none with an install date"
	}
	return nil
}

func collectSoftware(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	if h.Registry == nil {
		return probe.NotApplicable(reasonNoRegistry)
	}
	var pkgs []wire.Package
	read := func(key, arch string) error {
		subs, err := h.Registry.Subkeys(ctx, key)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			vals, err := h.Registry.Values(ctx, key+`\`+sub)
			if err != nil {
				continue
			}
			if p, ok := UninstallPackage(vals, arch); ok {
				pkgs = append(pkgs, p)
			}
		}
		return nil
	}
	if err := read(keyUninstall, ""); err != nil {
		return fmt.Errorf("read uninstall entries: %w", err)
	}
	// The 32-bit view only exists on 64-bit Windows.
	if err := read(keyUninstall32, "x86"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", keyUninstall32, err)
	}
	// Per-user installs live in each loaded user hive.
	users, err := h.Registry.Subkeys(ctx, keyUsers)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list user hives: %w", err)
	}
	for _, sid := range users {
		if strings.HasSuffix(strings.ToLower(sid), "_classes") {
			continue
		}
		if err := read(keyUsers+`\`+sid+`\`+userUninstall, ""); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read uninstall entries of %s: %w", sid, err)
		}
	}
	if pkgs == nil {
		pkgs = []wire.Package{}
	}
	s.Software = &wire.Software{Packages: pkgs}
	return nil
}

// pendingRenames reports whether a PendingFileRenameOperations value lists
// any file (REG_MULTI_SZ pairs; an empty list is left behind sometimes).
func pendingRenames(v winreg.Value) bool {
	for _, s := range v.Strings {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return len(v.Strings) == 0 && strings.TrimSpace(strings.Trim(v.String, "\x00")) != ""
}

// exitReason describes a failed command with its standard error decoded
// the way its output is: wmic writes UTF-16 to stderr too.
func exitReason(ctx context.Context, h *host.Host, err error) string {
	var ee *host.ExitError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	msg := strings.TrimSpace(DecodeOutput(ee.Stderr, oemCodePage(ctx, h)))
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", ee.Command, ee.Code)
	}
	return fmt.Sprintf("%s: exit status %d: %s", ee.Command, ee.Code, msg)
}
