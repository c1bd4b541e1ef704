package hardware

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/smbios"
)

// The SMBIOS tables as the kernel exports them (Linux 4.2+): the entry
// point and the structure table, mode 0400 (root only). They hold every
// structure, chassis serial included, with no child process.
const (
	smbiosDir        = "/sys/firmware/dmi/tables"
	smbiosEntryPoint = smbiosDir + "/smbios_entry_point"
	smbiosTable      = smbiosDir + "/DMI"
)

// tableLimit bounds the table read; SMBIOS 3 tables may reach 4 GiB in
// theory, real ones are a few KiB.
const tableLimit = 1 << 20

// readSMBIOSTable reads and decodes the kernel's SMBIOS tables. The error
// says why there is no table (absent, not root, unreadable, malformed) in
// words fit for an unknown-field reason.
func readSMBIOSTable(h *host.Host) (*smbios.Table, error) {
	ep, err := h.ReadFileLimit(smbiosEntryPoint, 64)
	if err != nil {
		return nil, sysfsErr(smbiosEntryPoint, err)
	}
	tab, err := h.ReadFileLimit(smbiosTable, tableLimit)
	if err != nil {
		return nil, sysfsErr(smbiosTable, err)
	}
	t, err := smbios.ParseLinux(ep, tab)
	if err != nil && (t == nil || len(t.Structures) == 0) {
		return nil, fmt.Errorf("SMBIOS table %s not understood: %w", smbiosTable, err)
	}
	// A table cut short still names the machine if its first structures
	// survived; the identity structures come first in every real table.
	return t, nil
}

func sysfsErr(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is absent (kernel before 4.2, or firmware without SMBIOS)", p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied (needs root)", p)
	}
	return fmt.Errorf("read %s: %w", p, err)
}

// tableFields gives the table's identity strings under the same field
// names (and in the same raw form) as sysfs and dmidecode.
func tableFields(t *smbios.Table) map[string]string {
	id := t.Identity()
	raw := map[string]string{
		fieldVendor:        id.Manufacturer,
		fieldModel:         id.Product,
		fieldSystemSerial:  id.Serial,
		fieldSystemUUID:    id.UUID,
		fieldBoardSerial:   id.BoardSerial,
		fieldAssetTag:      id.ChassisAssetTag,
		fieldBIOSVendor:    id.BIOSVendor,
		fieldBIOSVersion:   id.BIOSVersion,
		fieldBIOSDate:      id.BIOSDate,
		fieldSystemVersion: id.Version,
		fieldChassisSerial: id.ChassisSerial,
	}
	if id.ChassisType != 0 {
		raw[fieldChassisType] = strconv.Itoa(id.ChassisType)
	}
	// Fields the table's structures do not reach (an old, short type 1
	// has no UUID) are left out, so the next source is asked.
	for k, v := range raw {
		if v == "" && k == fieldSystemUUID {
			delete(raw, k)
		}
	}
	return raw
}
