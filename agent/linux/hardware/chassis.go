package hardware

import (
	"strconv"
	"strings"

	"github.com/rosterhq/roster/agent/smbios"
)

// chassisNames is DSP0134's chassis type table, indexed by the type code
// (agent/smbios holds it, for the Windows probe too).
var chassisNames = func() []string {
	var out []string
	for i := 0; ; i++ {
		if i > 0 && smbios.ChassisTypeName(i) == "" {
			return out
		}
		out = append(out, smbios.ChassisTypeName(i))
	}
}()

// chassisAliases maps the names dmidecode prints where they differ from
// DSP0134's spelling (dmidecode's dmi_chassis_type table) to the code.
var chassisAliases = map[string]int{
	"sub chassis":     19,
	"multi-system":    25,
	"compactpci":      26,
	"advancedtca":     27,
	"blade enclosing": 29,
}

// Form factors, the coarse classes of wire.Hardware.FormFactor.
const (
	formLaptop  = "laptop"
	formDesktop = "desktop"
	formServer  = "server"
	formVM      = "vm"
	formOther   = "other"
)

// chassis is a decoded SMBIOS chassis type.
type chassis struct {
	Code int
	Name string
}

// parseChassisType decodes a chassis type as sysfs gives it (the numeric
// code, "23") or as dmidecode prints it ("Rack Mount Chassis"). ok is false
// for anything it does not recognise.
func parseChassisType(s string) (c chassis, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return chassis{}, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		// Bit 7 of the byte is the "chassis lock present" flag, not part
		// of the type.
		n &= 0x7f
		if n <= 0 || n >= len(chassisNames) {
			return chassis{}, false
		}
		return chassis{Code: n, Name: chassisNames[n]}, true
	}
	low := strings.ToLower(s)
	if n, found := chassisAliases[low]; found {
		return chassis{Code: n, Name: chassisNames[n]}, true
	}
	for n, name := range chassisNames {
		if name != "" && strings.ToLower(name) == low {
			return chassis{Code: n, Name: name}, true
		}
	}
	return chassis{}, false
}

// formFactor returns the coarse class of a chassis (agent/smbios's, so
// Windows classes alike); "" for the SMBIOS "Unknown" type, which says
// nothing.
func (c chassis) formFactor() string {
	return smbios.ChassisFormFactor(c.Code)
}
