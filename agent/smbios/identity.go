package smbios

import (
	"encoding/binary"
	"fmt"
)

// Identity holds the identity strings of a table as the firmware wrote
// them: not cleaned, placeholders kept (shared/identity decides what is a
// placeholder). A string the table lacks (structure absent, too short for
// its version, string number 0) is "".
type Identity struct {
	BIOSVendor, BIOSVersion, BIOSDate string

	// System (type 1).
	Manufacturer, Product, Version, Serial string
	// UUID is the type 1 UUID in 8-4-4-4-12 form, byte order per the
	// table's version (see FormatUUID); "" when the structure is too short.
	UUID        string
	SKU, Family string

	BoardManufacturer, BoardProduct, BoardSerial, BoardAssetTag string

	ChassisManufacturer string
	// ChassisType is the type 3 code without the lock bit; 0 when absent.
	ChassisType                    int
	ChassisSerial, ChassisAssetTag string

	Processors []Processor
	Memory     []MemoryDevice
}

// Processor is a populated type 4 structure.
type Processor struct {
	Socket, Manufacturer, Version string
	Cores, Threads                int
}

// MemoryDevice is an installed type 17 structure.
type MemoryDevice struct {
	Locator, Manufacturer, Serial, PartNumber string
	SizeBytes                                 uint64
}

// Identity decodes the identity structures. Only the first structure of
// types 0 to 3 counts: later type 2 structures describe add-in boards.
func (t *Table) Identity() Identity {
	var id Identity
	if s, ok := t.first(0); ok {
		id.BIOSVendor, id.BIOSVersion, id.BIOSDate = s.str(4), s.str(5), s.str(8)
	}
	if s, ok := t.first(1); ok {
		id.Manufacturer, id.Product, id.Version, id.Serial = s.str(4), s.str(5), s.str(6), s.str(7)
		if len(s.Formatted) >= 24 {
			id.UUID = FormatUUID(s.Formatted[8:24], t.Version)
		}
		id.SKU, id.Family = s.str(25), s.str(26)
	}
	if s, ok := t.first(2); ok {
		id.BoardManufacturer, id.BoardProduct = s.str(4), s.str(5)
		id.BoardSerial, id.BoardAssetTag = s.str(7), s.str(8)
	}
	if s, ok := t.first(3); ok {
		id.ChassisManufacturer = s.str(4)
		if c, ok := s.byteAt(5); ok {
			id.ChassisType = int(c & 0x7f)
		}
		id.ChassisSerial, id.ChassisAssetTag = s.str(7), s.str(8)
	}
	for _, s := range t.Of(4) {
		// Status bit 6: CPU socket populated.
		if st, ok := s.byteAt(0x18); ok && st&0x40 == 0 {
			continue
		}
		p := Processor{Socket: s.str(4), Manufacturer: s.str(7), Version: s.str(0x10)}
		if c, ok := s.byteAt(0x23); ok {
			p.Cores = int(c)
		}
		if c, ok := s.byteAt(0x25); ok {
			p.Threads = int(c)
		}
		// SMBIOS 3.0 moved counts above 255 into words.
		if len(s.Formatted) >= 0x30 {
			if p.Cores == 0xff {
				p.Cores = int(binary.LittleEndian.Uint16(s.Formatted[0x2a:]))
			}
			if p.Threads == 0xff {
				p.Threads = int(binary.LittleEndian.Uint16(s.Formatted[0x2e:]))
			}
		}
		id.Processors = append(id.Processors, p)
	}
	for _, s := range t.Of(17) {
		size := memorySize(s)
		if size == 0 {
			continue
		}
		id.Memory = append(id.Memory, MemoryDevice{
			Locator: s.str(0x10), Manufacturer: s.str(0x17), Serial: s.str(0x18), PartNumber: s.str(0x1a),
			SizeBytes: size,
		})
	}
	return id
}

// memorySize decodes a type 17 Size word (and Extended Size): 0 for an
// empty slot or an unknown size.
func memorySize(s Structure) uint64 {
	if len(s.Formatted) < 0x0e {
		return 0
	}
	w := binary.LittleEndian.Uint16(s.Formatted[0x0c:])
	switch {
	case w == 0 || w == 0xffff:
		return 0
	case w == 0x7fff && len(s.Formatted) >= 0x20:
		return uint64(binary.LittleEndian.Uint32(s.Formatted[0x1c:])&0x7fffffff) << 20
	case w&0x8000 != 0:
		return uint64(w&0x7fff) << 10
	}
	return uint64(w) << 20
}

// FormatUUID writes a type 1 UUID field. Since SMBIOS 2.6 the first three
// fields are little-endian (RFC 4122's wire order for the rest); earlier
// tables were meant to be big-endian throughout, which is how dmidecode
// and the Linux kernel print them, so the same bytes give the same text
// here as in their output.
func FormatUUID(b []byte, v Version) string {
	if len(b) != 16 {
		return ""
	}
	if v.AtLeast(2, 6) {
		return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x",
			b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:16])
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// chassisTypes is DSP0134's System Enclosure or Chassis Types table
// (7.4.1), indexed by the type code.
var chassisTypes = [...]string{
	1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 5: "Pizza Box",
	6: "Mini Tower", 7: "Tower", 8: "Portable", 9: "Laptop", 10: "Notebook",
	11: "Hand Held", 12: "Docking Station", 13: "All in One", 14: "Sub Notebook",
	15: "Space-saving", 16: "Lunch Box", 17: "Main Server Chassis", 18: "Expansion Chassis",
	19: "SubChassis", 20: "Bus Expansion Chassis", 21: "Peripheral Chassis", 22: "RAID Chassis",
	23: "Rack Mount Chassis", 24: "Sealed-case PC", 25: "Multi-system chassis", 26: "Compact PCI",
	27: "Advanced TCA", 28: "Blade", 29: "Blade Enclosure", 30: "Tablet", 31: "Convertible",
	32: "Detachable", 33: "IoT Gateway", 34: "Embedded PC", 35: "Mini PC", 36: "Stick PC",
}

// ChassisTypeName returns DSP0134's name of a chassis type code (lock bit
// ignored), "" for codes the specification does not define.
func ChassisTypeName(code int) string {
	code &= 0x7f
	if code <= 0 || code >= len(chassisTypes) {
		return ""
	}
	return chassisTypes[code]
}

// chassisForms classes chassis codes into wire.Hardware's form factors;
// codes not listed are "other".
var chassisForms = map[int]string{
	3: "desktop", 4: "desktop", 5: "desktop", 6: "desktop", 7: "desktop",
	13: "desktop", 15: "desktop", 16: "desktop", 24: "desktop", 35: "desktop", 36: "desktop",
	8: "laptop", 9: "laptop", 10: "laptop", 11: "laptop", 14: "laptop",
	30: "laptop", 31: "laptop", 32: "laptop",
	17: "server", 22: "server", 23: "server", 25: "server", 26: "server",
	27: "server", 28: "server", 29: "server",
}

// ChassisFormFactor returns the coarse class of a chassis type code:
// laptop, desktop, server or other; "" for "Unknown" (2) and undefined
// codes, which say nothing.
func ChassisFormFactor(code int) string {
	code &= 0x7f
	if code == 2 || ChassisTypeName(code) == "" {
		return ""
	}
	if f, ok := chassisForms[code]; ok {
		return f
	}
	return "other"
}
