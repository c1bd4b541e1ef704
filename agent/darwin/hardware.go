package darwin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

const appleVendor = "Apple Inc."

// collectHardware reads the machine's identity from the IORegistry
// (`ioreg -rd1 -c IOPlatformExpertDevice`: serial, hardware UUID, model
// identifier, board-id) and the rest of the overview from system_profiler
// (XML: stable keys, not localised; text when XML is not there), which also
// stands in for ioreg's identity when ioreg gives none. NICs come from
// ifconfig, disks from diskutil.
func collectHardware(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	var errs []error

	plat, ioWhy, ioErr := readIOReg(ctx, h)
	if ioErr != nil {
		errs = append(errs, ioErr)
	}
	facts, spErr := readSPHardware(ctx, h)
	spWhy := ""
	if spErr != nil {
		spWhy = spErr.Error()
		// system_profiler is only a fallback when ioreg answered.
		if plat == nil || !errors.Is(spErr, host.ErrNotFound) {
			errs = append(errs, spErr)
		}
	}
	fillHardware(hw, plat, ioWhy, facts, spWhy)

	if out, err := run(ctx, h, cmdHostname); err == nil && strings.TrimSpace(string(out)) != "" {
		hw.Hostname = strings.TrimSpace(string(out))
	} else {
		hw.Unknown["hostname"] = reason(cmdHostname, err)
	}
	// The logic-board serial (MLB) is not in IOPlatformExpertDevice nor in
	// any system_profiler data type: Intel Macs keep it in NVRAM
	// (4D1EDE05-38C7-4A6A-9CC6-4BCCA8B38C14:MLB, readable by root only) and
	// Apple silicon Macs do not expose it. The agent does not read NVRAM.
	hw.Unknown["board_serial"] = "macOS does not report the logic-board serial in IOPlatformExpertDevice or system_profiler (Intel Macs keep it in root-only NVRAM, which the agent does not read)"
	// Apple firmware has no SMBIOS chassis type to report.
	if err := collectNICs(ctx, h, hw); err != nil {
		errs = append(errs, err)
	}
	if err := collectDisks(ctx, h, hw); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// readIOReg runs ioreg. It returns nil and the reason when there is nothing
// to use, and an error only when ioreg ran and failed or printed nonsense.
func readIOReg(ctx context.Context, h *host.Host) (*ioregPlatform, string, error) {
	out, err := run(ctx, h, cmdIORegPlatform)
	if err != nil {
		if errors.Is(err, host.ErrNotFound) {
			return nil, reason(cmdIORegPlatform, err), nil
		}
		return nil, reason(cmdIORegPlatform, err), fmt.Errorf("run %s: %w", cmdIORegPlatform, err)
	}
	p, err := parseIORegPlatform(out)
	if err != nil {
		return nil, reason(cmdIORegPlatform, err), fmt.Errorf("parse %s: %w", cmdIORegPlatform, err)
	}
	return &p, "", nil
}

// readSPHardware runs the XML form and falls back to the text form only when
// the XML form is not there at all.
func readSPHardware(ctx context.Context, h *host.Host) (*spHardware, error) {
	out, err := run(ctx, h, cmdHardwareXML)
	if err == nil {
		f, err := parseSPHardwareXML(out)
		if err != nil {
			return nil, err
		}
		return &f, nil
	}
	if !errors.Is(err, host.ErrNotFound) {
		return nil, fmt.Errorf("run %s: %w", cmdHardwareXML, err)
	}
	out, terr := run(ctx, h, cmdHardwareText)
	if terr != nil {
		return nil, fmt.Errorf("run %s: %w", cmdHardwareText, terr)
	}
	f, err := parseSPHardwareText(out)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// fillHardware moves ioreg's and system_profiler's facts into the wire type.
// Either may be nil, with the reason in ioWhy / spWhy. For identity ioreg
// wins; a value it lacks (or holds only as a placeholder) comes from
// system_profiler, and when both lack it the reason names both.
func fillHardware(hw *wire.Hardware, io *ioregPlatform, ioWhy string, sp *spHardware, spWhy string) {
	if io == nil && sp == nil {
		for _, f := range []string{"system_serial", "system_uuid", "vendor", "model", "form_factor", "cpu", "memory_bytes"} {
			hw.Unknown[f] = ioWhy + "; " + spWhy
		}
		return
	}
	var f spHardware
	if sp != nil {
		f = *sp
	}
	pick := func(field, ioKey, ioVal, spVal, spLabel string, norm func(string) string) string {
		var why []string
		if io != nil {
			if v := norm(ioVal); v != "" {
				return v
			}
			if ioVal == "" {
				why = append(why, "ioreg has no "+ioKey)
			} else {
				why = append(why, fmt.Sprintf("ioreg %s %q is a placeholder or malformed", ioKey, ioVal))
			}
		} else {
			why = append(why, ioWhy)
		}
		if sp != nil {
			if v := norm(spVal); v != "" {
				return v
			}
			why = append(why, "system_profiler reports no "+spLabel)
		} else {
			why = append(why, spWhy)
		}
		hw.Unknown[field] = strings.Join(why, "; ")
		return ""
	}
	var ioSerial, ioUUID, ioModel string
	if io != nil {
		ioSerial, ioUUID, ioModel = io.Serial, io.UUID, io.Model
	}
	hw.SystemSerial = pick("system_serial", "IOPlatformSerialNumber", ioSerial, f.Serial, "serial number", identity.Serial)
	hw.SystemUUID = pick("system_uuid", "IOPlatformUUID", ioUUID, f.UUID, "hardware UUID", identity.UUID)

	id := identity.Text(ioModel)
	if id == "" {
		id = identity.Text(f.ModelID)
	}
	name := identity.Text(f.ModelName)
	switch {
	case name != "" && id != "":
		hw.Model = name + " (" + id + ")"
	default:
		hw.Model = firstNonEmpty(name, id)
	}
	if hw.Model == "" {
		hw.Unknown["model"] = "neither ioreg nor system_profiler reports a model name or identifier"
	}

	class := classifyModel(id, name)
	hw.FormFactor = class.formFactor
	if class.formFactor == "" {
		hw.Unknown["form_factor"] = fmt.Sprintf("model identifier %q is not one this agent knows", id)
	}
	switch {
	case class.virtual:
		hw.Virtual, hw.Hypervisor = wire.Yes, class.hypervisor
	case class.formFactor != "":
		hw.Virtual = wire.No
	default:
		hw.Virtual = wire.Unknown
		hw.Unknown["virtual"] = hw.Unknown["form_factor"]
	}
	if class.apple {
		hw.Vendor = appleVendor
		if f.BootROM != "" {
			hw.BIOSVendor = appleVendor
		}
	} else {
		hw.Unknown["vendor"] = fmt.Sprintf("model identifier %q is not an Apple one", id)
	}
	hw.BIOSVersion = identity.Text(f.BootROM)
	if hw.BIOSVersion == "" {
		why := "system_profiler reports no Boot ROM or System Firmware Version"
		if sp == nil {
			why = spWhy
		}
		hw.Unknown["bios_version"] = why
	}
	// Macs have no SMBIOS chassis type to read (form_factor comes from the
	// model identifier instead); say so rather than leave it silent.
	hw.Unknown["chassis_type"] = "macOS exposes no SMBIOS chassis type; form_factor is derived from the model identifier"

	switch {
	case sp == nil:
		hw.Unknown["cpu"] = spWhy
		hw.Unknown["memory_bytes"] = spWhy
		return
	case f.CPU != "" || f.Cores > 0:
		cpu := &wire.CPU{Model: f.CPU, Sockets: f.Packages, Cores: f.Cores, MaxMHz: f.CPUMHz}
		switch {
		case strings.HasPrefix(f.CPU, "Intel"):
			cpu.Vendor = "Intel"
		case strings.HasPrefix(f.CPU, "Apple"):
			cpu.Vendor = "Apple"
		}
		hw.CPU = cpu
	default:
		hw.Unknown["cpu"] = "system_profiler reports no processor"
	}
	if hw.MemoryBytes = f.Memory; hw.MemoryBytes == 0 {
		hw.Unknown["memory_bytes"] = fmt.Sprintf("system_profiler memory %q is not a size", f.MemoryText)
	}
}

// collectNICs lists the network hardware from ifconfig.
func collectNICs(ctx context.Context, h *host.Host, hw *wire.Hardware) error {
	out, err := run(ctx, h, cmdIfconfig)
	if err != nil {
		hw.Unknown["nics"] = reason(cmdIfconfig, err)
		if errors.Is(err, host.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("run %s: %w", cmdIfconfig, err)
	}
	ifaces := parseIfconfig(out)
	if len(ifaces) == 0 {
		hw.Unknown["nics"] = cmdIfconfig + ": no interface in the output"
		return fmt.Errorf("parse %s: no interface in the output", cmdIfconfig)
	}
	hw.NICs = physicalNICs(ifaces)
	if len(hw.NICs) == 0 {
		hw.Unknown["nics"] = fmt.Sprintf("%s lists %d interfaces, none an enN port with a burnt-in address", cmdIfconfig, len(ifaces))
	}
	return nil
}

// collectDisks lists the physical disks: which disks there are from
// `diskutil list -plist`, what each is from `diskutil info -plist diskN`.
// diskutil reports no disk serial numbers.
func collectDisks(ctx context.Context, h *host.Host, hw *wire.Hardware) error {
	out, err := run(ctx, h, cmdDiskutilList)
	if err != nil {
		hw.Unknown["disks"] = reason(cmdDiskutilList, err)
		if errors.Is(err, host.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("run %s: %w", cmdDiskutilList, err)
	}
	l, err := parseDiskutilList(out)
	if err != nil {
		hw.Unknown["disks"] = reason(cmdDiskutilList, err)
		return fmt.Errorf("parse %s: %w", cmdDiskutilList, err)
	}
	var errs, missing []string
	for _, d := range l.physicalCandidates() {
		line := diskInfoLine(d.DeviceIdentifier)
		disk := wire.Disk{Name: d.DeviceIdentifier, SizeBytes: d.Size, Media: wire.MediaUnknown}
		out, err := run(ctx, h, line)
		if err != nil {
			missing = append(missing, reason(line, err))
			if !errors.Is(err, host.ErrNotFound) {
				errs = append(errs, fmt.Sprintf("run %s: %v", line, err))
			}
			hw.Disks = append(hw.Disks, disk)
			continue
		}
		info, err := parseDiskutilInfo(out)
		if err != nil {
			missing = append(missing, reason(line, err))
			errs = append(errs, fmt.Sprintf("parse %s: %v", line, err))
			hw.Disks = append(hw.Disks, disk)
			continue
		}
		if info.VirtualOrPhysical == "Virtual" || info.BusProtocol == "Disk Image" {
			continue // a disk image or a synthesized disk, not hardware
		}
		fillDisk(&disk, info)
		hw.Disks = append(hw.Disks, disk)
	}
	if len(missing) > 0 {
		hw.Unknown["disk_model"] = "model, media and bus not read: " + strings.Join(missing, "; ")
	}
	hw.Unknown["disk_serial"] = "diskutil does not report disk serial numbers (system_profiler SPNVMeDataType/SPSerialATADataType are not read)"
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// fillDisk moves `diskutil info` facts into the wire type.
func fillDisk(d *wire.Disk, i diskutilInfo) {
	d.Model = identity.Text(i.MediaName)
	if size := firstNonZero(i.TotalSize, i.Size); size > 0 {
		d.SizeBytes = size
	}
	if i.SolidState != nil {
		d.Media = wire.MediaHDD
		if *i.SolidState {
			d.Media = wire.MediaSSD
		}
	}
	d.Bus = i.BusProtocol
	d.Removable = (i.Internal != nil && !*i.Internal) ||
		(i.RemovableMediaOrExternalDevice != nil && *i.RemovableMediaOrExternalDevice) ||
		(i.Removable != nil && *i.Removable)
}

func firstNonZero(v ...uint64) uint64 {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}

// modelClass is what a Mac model identifier says about the machine.
type modelClass struct {
	formFactor string // laptop, desktop, vm; "" when unknown
	virtual    bool
	hypervisor string
	apple      bool // Apple hardware or Apple's own virtual Mac
}

// classifyModel maps the model identifier ("MacBookPro10,1") to a form
// factor. Since 2022 Apple also ships plain "MacNN,M" identifiers (Mac Studio,
// MacBook Air M2, Mac mini M2), for which the marketing name decides.
func classifyModel(id, name string) modelClass {
	switch {
	case strings.HasPrefix(id, "VirtualMac"):
		return modelClass{formFactor: "vm", virtual: true, hypervisor: "Apple Virtualization", apple: true}
	case strings.HasPrefix(id, "VMware"):
		return modelClass{formFactor: "vm", virtual: true, hypervisor: "VMware"}
	case strings.HasPrefix(id, "Parallels"):
		return modelClass{formFactor: "vm", virtual: true, hypervisor: "Parallels"}
	case strings.HasPrefix(id, "MacBook"):
		return modelClass{formFactor: "laptop", apple: true}
	case strings.HasPrefix(id, "iMac"), strings.HasPrefix(id, "Macmini"), strings.HasPrefix(id, "MacPro"),
		strings.HasPrefix(id, "Xserve"):
		return modelClass{formFactor: "desktop", apple: true}
	case strings.HasPrefix(id, "Mac") && len(id) > 3 && id[3] >= '0' && id[3] <= '9':
		switch {
		case strings.HasPrefix(name, "MacBook"):
			return modelClass{formFactor: "laptop", apple: true}
		case strings.HasPrefix(name, "Mac mini"), strings.HasPrefix(name, "iMac"),
			strings.HasPrefix(name, "Mac Pro"), strings.HasPrefix(name, "Mac Studio"):
			return modelClass{formFactor: "desktop", apple: true}
		}
		return modelClass{apple: true}
	}
	return modelClass{}
}

// reason turns a failed (or empty) command into an Unknown-map reason.
func reason(line string, err error) string {
	if err == nil {
		return line + ": empty output"
	}
	if errors.Is(err, host.ErrNotFound) {
		return line + ": command not found on this host"
	}
	return line + ": " + err.Error()
}
