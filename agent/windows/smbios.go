package windows

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/agent/smbios"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// SMBIOSFile is where a captured Windows host keeps the firmware's SMBIOS
// table: the blob GetSystemFirmwareTable('RSMB', 0) returned, byte for
// byte (RawSMBIOSData header, then the table). `roster-agent inventory
// --capture DIR` writes it there on a live machine.
const SMBIOSFile = "api/GetSystemFirmwareTable-RSMB.bin"

// smbiosFields are the facts only SMBIOS gives on Windows without WMI.
var smbiosFields = []string{"system_serial", "system_uuid", "board_serial", "asset_tag", "chassis_type"}

// collectSMBIOS reads identity from the SMBIOS table (no WMI, no child
// process). It runs before the systeminfo/registry probe so that, where
// both know a fact, the firmware's own table wins.
func collectSMBIOS(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	hw := &wire.Hardware{Unknown: map[string]string{}}
	s.Hardware = hw
	b, err := rsmbBlob(ctx, h)
	if errors.Is(err, fs.ErrNotExist) {
		for _, f := range smbiosFields {
			hw.Unknown[f] = "captured host has no " + SMBIOSFile + " (GetSystemFirmwareTable('RSMB') was not recorded)"
		}
		return probe.NotApplicable("no %s on this captured host", SMBIOSFile)
	}
	if err != nil {
		for _, f := range smbiosFields {
			hw.Unknown[f] = "GetSystemFirmwareTable('RSMB') failed: " + err.Error()
		}
		return fmt.Errorf("read SMBIOS table: %w", err)
	}
	t, err := smbios.ParseRSMB(b)
	if err != nil && (t == nil || len(t.Structures) == 0) {
		for _, f := range smbiosFields {
			hw.Unknown[f] = "SMBIOS table not understood: " + err.Error()
		}
		return fmt.Errorf("parse %s: %w", SMBIOSFile, err)
	}
	*hw = *SMBIOSHardware(t)
	return nil
}

// rsmbBlob returns the RSMB blob from the live machine (recording it under
// --capture) or from a captured host.
func rsmbBlob(ctx context.Context, h *host.Host) ([]byte, error) {
	if !h.Live {
		return h.ReadFile("/" + SMBIOSFile)
	}
	b, err := smbios.ReadRSMB(ctx)
	if err != nil {
		return nil, err
	}
	host.RecordData(h, SMBIOSFile, b)
	return b, nil
}

// SMBIOSHardware turns a decoded table into the hardware facts it holds,
// through shared/identity's rules (placeholders, chassis-serial fallback,
// Lenovo model naming, hypervisor vendors). A fact the firmware left as a
// placeholder is unknown with the value it held.
func SMBIOSHardware(t *smbios.Table) *wire.Hardware {
	id := t.Identity()
	hw := &wire.Hardware{Unknown: map[string]string{}}
	set := func(field, raw string, norm func(string) string, dst *string) {
		if *dst = norm(raw); *dst == "" {
			hw.Unknown[field] = placeholderReason(raw)
		}
	}
	set("vendor", id.Manufacturer, identity.Text, &hw.Vendor)
	hw.Model = identity.Model(id.Manufacturer, id.Product, id.Version)
	if hw.Model == "" {
		hw.Unknown["model"] = placeholderReason(id.Product)
	}
	hw.SystemSerial, _ = identity.SystemSerial(id.Serial, id.ChassisSerial)
	if hw.SystemSerial == "" {
		hw.Unknown["system_serial"] = placeholderReason(id.Serial) + "; chassis serial " + smbiosQuote(id.ChassisSerial)
	}
	set("system_uuid", id.UUID, identity.UUID, &hw.SystemUUID)
	set("board_serial", id.BoardSerial, identity.Serial, &hw.BoardSerial)
	set("asset_tag", id.ChassisAssetTag, identity.Text, &hw.AssetTag)
	set("bios_vendor", id.BIOSVendor, identity.Text, &hw.BIOSVendor)
	set("bios_version", id.BIOSVersion, identity.Text, &hw.BIOSVersion)
	set("bios_date", id.BIOSDate, identity.Text, &hw.BIOSDate)
	if hw.ChassisType = smbios.ChassisTypeName(id.ChassisType); hw.ChassisType == "" {
		hw.Unknown["chassis_type"] = fmt.Sprintf("SMBIOS table has no chassis structure or an undefined chassis type (%d)", id.ChassisType)
	}
	if hw.FormFactor = smbios.ChassisFormFactor(id.ChassisType); hw.FormFactor == "" {
		hw.Unknown["form_factor"] = fmt.Sprintf("firmware reports chassis type %q", hw.ChassisType)
	}
	// Only a positive answer: whether an unrecognised machine is physical
	// is the hardware probe's call.
	if hv := identity.Hypervisor(id.Manufacturer, id.Product, id.BIOSVendor+" "+id.BIOSVersion); hv != "" {
		hw.Virtual, hw.Hypervisor, hw.FormFactor = wire.Yes, hv, "vm"
	}
	return hw
}

func placeholderReason(raw string) string {
	return "SMBIOS table holds placeholder or empty value " + smbiosQuote(raw)
}

func smbiosQuote(raw string) string {
	if c := identity.Clean(raw); c != "" {
		return fmt.Sprintf("%q", c)
	}
	return "(empty)"
}
