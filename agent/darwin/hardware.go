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

// collectHardware reads the hardware overview from system_profiler, as XML
// (stable keys, not localised) and, when that is not available, as text.
func collectHardware(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	var errs []error

	facts, err := readSPHardware(ctx, h)
	if err != nil {
		errs = append(errs, err)
		for _, f := range []string{"system_serial", "system_uuid", "vendor", "model", "form_factor", "cpu", "memory_bytes"} {
			hw.Unknown[f] = err.Error()
		}
	} else {
		fillHardware(hw, facts)
	}

	if out, err := run(ctx, h, cmdHostname); err == nil && strings.TrimSpace(string(out)) != "" {
		hw.Hostname = strings.TrimSpace(string(out))
	} else {
		hw.Unknown["hostname"] = reason(cmdHostname, err)
	}
	// Apple exposes no board serial or SMBIOS chassis type through
	// system_profiler, and disks and network ports need data types this
	// agent does not read yet: say so rather than leave the reader guessing.
	hw.Unknown["board_serial"] = "not reported by system_profiler SPHardwareDataType"
	hw.Unknown["disks"] = "not collected on macOS yet (system_profiler SPNVMeDataType/SPSerialATADataType are not read)"
	hw.Unknown["nics"] = "not collected on macOS yet (networksetup -listallhardwareports is not read)"
	return errors.Join(errs...)
}

// readSPHardware runs the XML form and falls back to the text form only when
// the XML form is not there at all.
func readSPHardware(ctx context.Context, h *host.Host) (spHardware, error) {
	out, err := run(ctx, h, cmdHardwareXML)
	if err == nil {
		return parseSPHardwareXML(out)
	}
	if !errors.Is(err, host.ErrNotFound) {
		return spHardware{}, fmt.Errorf("run %s: %w", cmdHardwareXML, err)
	}
	out, terr := run(ctx, h, cmdHardwareText)
	if terr != nil {
		return spHardware{}, fmt.Errorf("run %s: %w", cmdHardwareText, terr)
	}
	return parseSPHardwareText(out)
}

// fillHardware moves system_profiler's facts into the wire type.
func fillHardware(hw *wire.Hardware, f spHardware) {
	if hw.SystemSerial = identity.Serial(f.Serial); hw.SystemSerial == "" {
		hw.Unknown["system_serial"] = "system_profiler reports no serial number"
	}
	if hw.SystemUUID = identity.UUID(f.UUID); hw.SystemUUID == "" {
		hw.Unknown["system_uuid"] = "system_profiler reports no hardware UUID"
	}
	name, id := identity.Text(f.ModelName), identity.Text(f.ModelID)
	switch {
	case name != "" && id != "":
		hw.Model = name + " (" + id + ")"
	default:
		hw.Model = firstNonEmpty(name, id)
	}
	if hw.Model == "" {
		hw.Unknown["model"] = "system_profiler reports no model name or identifier"
	}

	class := classifyModel(id, name)
	hw.FormFactor = class.formFactor
	if class.formFactor == "" {
		hw.Unknown["form_factor"] = fmt.Sprintf("model identifier %q is not one this agent knows", f.ModelID)
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
		hw.Unknown["vendor"] = fmt.Sprintf("model identifier %q is not an Apple one", f.ModelID)
	}
	hw.BIOSVersion = identity.Text(f.BootROM)

	if f.CPU != "" || f.Cores > 0 {
		cpu := &wire.CPU{Model: f.CPU, Sockets: f.Packages, Cores: f.Cores, MaxMHz: f.CPUMHz}
		switch {
		case strings.HasPrefix(f.CPU, "Intel"):
			cpu.Vendor = "Intel"
		case strings.HasPrefix(f.CPU, "Apple"):
			cpu.Vendor = "Apple"
		}
		hw.CPU = cpu
	} else {
		hw.Unknown["cpu"] = "system_profiler reports no processor"
	}
	if hw.MemoryBytes = f.Memory; hw.MemoryBytes == 0 {
		hw.Unknown["memory_bytes"] = fmt.Sprintf("system_profiler memory %q is not a size", f.MemoryText)
	}
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
