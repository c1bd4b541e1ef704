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

// chassisForm classes each chassis code; codes not listed are "other".
var chassisForm = map[int]string{
	3: formDesktop, 4: formDesktop, 5: formDesktop, 6: formDesktop, 7: formDesktop,
	13: formDesktop, 15: formDesktop, 16: formDesktop, 24: formDesktop, 35: formDesktop, 36: formDesktop,
	8: formLaptop, 9: formLaptop, 10: formLaptop, 11: formLaptop, 14: formLaptop,
	30: formLaptop, 31: formLaptop, 32: formLaptop,
	17: formServer, 22: formServer, 23: formServer, 25: formServer, 26: formServer,
	27: formServer, 28: formServer, 29: formServer,
}

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

// formFactor returns the coarse class of a chassis; "" for the SMBIOS
// "Unknown" type, which says nothing.
func (c chassis) formFactor() string {
	if c.Code == 2 {
		return ""
	}
	if f, ok := chassisForm[c.Code]; ok {
		return f
	}
	return formOther
}
