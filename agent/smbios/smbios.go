// Package smbios reads the SMBIOS structure table (DMTF DSP0134) the
// firmware publishes, from the three places the agent finds it: Linux's
// /sys/firmware/dmi/tables (smbios_entry_point + DMI), Windows'
// GetSystemFirmwareTable('RSMB') blob (a RawSMBIOSData header, then the
// table) and `dmidecode --dump-bin` files (entry point, table at offset 32).
// Every function here is a pure parser of untrusted bytes: it never panics,
// bounds every read, and decodes only what identity needs (types 0, 1, 2, 3,
// 4 and 17), leaving the raw structures for anything else.
//
// The project keeps its own reader rather than github.com/siderolabs/go-smbios
// because that module is MPL-2.0 (the project takes MIT/Apache/BSD code and
// data only), reads the live machine itself instead of taking bytes from a
// captured host, and does not parse the Windows RSMB header.
package smbios

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the SMBIOS version the entry point (or RSMB header) declares.
type Version struct {
	Major, Minor, Revision int
}

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Revision) }

// Structure is one structure of the table: its formatted area (header
// included, so offsets match DSP0134's tables) and its strings.
type Structure struct {
	Type      uint8
	Handle    uint16
	Formatted []byte
	Strings   []string
}

// byteAt returns the formatted area's byte at off and whether the
// structure is long enough to have it (older versions have shorter ones).
func (s Structure) byteAt(off int) (byte, bool) {
	if off >= len(s.Formatted) {
		return 0, false
	}
	return s.Formatted[off], true
}

// str returns the string a string-number byte at off refers to; "" when
// the structure is too short, the number is 0 ("none") or out of range.
func (s Structure) str(off int) string {
	n, ok := s.byteAt(off)
	if !ok || n == 0 || int(n) > len(s.Strings) {
		return ""
	}
	return s.Strings[n-1]
}

// Table is a decoded structure table.
type Table struct {
	Version    Version
	Structures []Structure
}

// EntryPoint is what an SMBIOS 2.1 (_SM_) or 3.0 (_SM3_) entry point says.
type EntryPoint struct {
	Version Version
	// TableAddress is the table's physical address; dmidecode --dump-bin
	// rewrites it to the file offset of the table (32).
	TableAddress uint64
	// TableLength is the table's size (2.1: exact; 3.0: maximum).
	TableLength uint32
	// Is64 is true for the 3.0 entry point.
	Is64 bool
}

// Errors a caller may want to tell apart.
var (
	ErrNoEntryPoint = errors.New("no SMBIOS entry point anchor (_SM_ or _SM3_)")
	ErrTruncated    = errors.New("truncated")
)

// ParseEntryPoint decodes an entry point as Linux exposes it in
// /sys/firmware/dmi/tables/smbios_entry_point. Checksums are not verified:
// the kernel already did, and dumps patched by dmidecode would fail them.
func ParseEntryPoint(b []byte) (EntryPoint, error) {
	switch {
	case bytes.HasPrefix(b, []byte("_SM3_")):
		if len(b) < 24 {
			return EntryPoint{}, fmt.Errorf("parse SMBIOS 3 entry point: %w (%d of 24 bytes)", ErrTruncated, len(b))
		}
		return EntryPoint{
			Version:      Version{int(b[7]), int(b[8]), int(b[9])},
			TableLength:  binary.LittleEndian.Uint32(b[12:16]),
			TableAddress: binary.LittleEndian.Uint64(b[16:24]),
			Is64:         true,
		}, nil
	case bytes.HasPrefix(b, []byte("_SM_")):
		if len(b) < 31 {
			return EntryPoint{}, fmt.Errorf("parse SMBIOS 2 entry point: %w (%d of 31 bytes)", ErrTruncated, len(b))
		}
		v := Version{Major: int(b[6]), Minor: int(b[7])}
		// Some firmware declares 2.33 or 2.51 for 2.3 and 2.5 (dmidecode
		// fixes the same up).
		if v.Major == 2 && (v.Minor == 31 || v.Minor == 33) {
			v.Minor = 3
		} else if v.Major == 2 && v.Minor == 51 {
			v.Minor = 5
		}
		return EntryPoint{
			Version:      v,
			TableLength:  uint32(binary.LittleEndian.Uint16(b[0x16:0x18])),
			TableAddress: uint64(binary.LittleEndian.Uint32(b[0x18:0x1c])),
		}, nil
	}
	return EntryPoint{}, ErrNoEntryPoint
}

// ParseTable splits a structure table into its structures. It stops at
// the end-of-table structure (type 127) or the end of b; a structure cut
// off by the end of b is an error, with the structures before it returned.
func ParseTable(b []byte, v Version) (*Table, error) {
	t := &Table{Version: v}
	for off := 0; off+4 <= len(b); {
		typ, length := b[off], int(b[off+1])
		handle := binary.LittleEndian.Uint16(b[off+2 : off+4])
		if length < 4 {
			return t, fmt.Errorf("parse SMBIOS structure at offset %d: length %d is below the header's 4 bytes", off, length)
		}
		if off+length > len(b) {
			return t, fmt.Errorf("parse SMBIOS structure type %d at offset %d: formatted area %w", typ, off, ErrTruncated)
		}
		s := Structure{Type: typ, Handle: handle, Formatted: b[off : off+length]}
		// The string set follows, ended by a double NUL (an empty set is
		// just the two NULs).
		p := off + length
		end := bytes.Index(b[p:], []byte{0, 0})
		if end < 0 {
			return t, fmt.Errorf("parse SMBIOS structure type %d at offset %d: string set %w", typ, off, ErrTruncated)
		}
		if end > 0 {
			for _, str := range bytes.Split(b[p:p+end], []byte{0}) {
				s.Strings = append(s.Strings, string(str))
			}
		}
		t.Structures = append(t.Structures, s)
		off = p + end + 2
		if typ == 127 {
			break
		}
	}
	if len(t.Structures) == 0 {
		return t, errors.New("parse SMBIOS table: no structures")
	}
	return t, nil
}

// ParseLinux reads the pair of files Linux exposes under
// /sys/firmware/dmi/tables: the entry point and the table (DMI).
func ParseLinux(entryPoint, table []byte) (*Table, error) {
	ep, err := ParseEntryPoint(entryPoint)
	if err != nil {
		return nil, fmt.Errorf("read smbios_entry_point: %w", err)
	}
	if ep.TableLength > 0 && int(ep.TableLength) < len(table) && !ep.Is64 {
		table = table[:ep.TableLength]
	}
	return ParseTable(table, ep.Version)
}

// dumpTableOffset is where `dmidecode --dump-bin` puts the table.
const dumpTableOffset = 32

// ParseDump reads a `dmidecode --dump-bin` file: the entry point at
// offset 0, its table address rewritten to 32, the table from there.
func ParseDump(b []byte) (*Table, error) {
	ep, err := ParseEntryPoint(b)
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS dump: %w", err)
	}
	start := ep.TableAddress
	if start == 0 || start >= uint64(len(b)) {
		start = dumpTableOffset
	}
	if start >= uint64(len(b)) {
		return nil, fmt.Errorf("read SMBIOS dump: table at %d is past the end (%d bytes)", start, len(b))
	}
	table := b[start:]
	if !ep.Is64 && ep.TableLength > 0 && int(ep.TableLength) < len(table) {
		table = table[:ep.TableLength]
	}
	return ParseTable(table, ep.Version)
}

// rawSMBIOSHeader is the size of Windows' RawSMBIOSData header before
// SMBIOSTableData: Used20CallingMethod, SMBIOSMajorVersion,
// SMBIOSMinorVersion, DmiRevision (one byte each) and Length (DWORD).
const rawSMBIOSHeader = 8

// ParseRSMB reads the blob GetSystemFirmwareTable('RSMB', 0, …) returns:
// a RawSMBIOSData header (documented with GetSystemFirmwareTable in the
// Win32 API reference) followed by Length bytes of structure table.
func ParseRSMB(b []byte) (*Table, error) {
	if len(b) < rawSMBIOSHeader {
		return nil, fmt.Errorf("parse RSMB blob: header %w (%d of %d bytes)", ErrTruncated, len(b), rawSMBIOSHeader)
	}
	v := Version{Major: int(b[1]), Minor: int(b[2]), Revision: int(b[3])}
	n := binary.LittleEndian.Uint32(b[4:8])
	data := b[rawSMBIOSHeader:]
	if uint64(n) > uint64(len(data)) {
		return nil, fmt.Errorf("parse RSMB blob: header says %d table bytes, %d follow: %w", n, len(data), ErrTruncated)
	}
	return ParseTable(data[:n], v)
}

// RSMB builds the blob GetSystemFirmwareTable('RSMB') would return for a
// table of this version: the inverse of ParseRSMB, used to store what a
// live Windows machine read in a captured host and by tests.
func RSMB(v Version, table []byte) []byte {
	out := make([]byte, rawSMBIOSHeader, rawSMBIOSHeader+len(table))
	out[1], out[2], out[3] = byte(v.Major), byte(v.Minor), byte(v.Revision)
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(table)))
	return append(out, table...)
}

// Of returns the structures of one type, in table order.
func (t *Table) Of(typ uint8) []Structure {
	var out []Structure
	for _, s := range t.Structures {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

func (t *Table) first(typ uint8) (Structure, bool) {
	for _, s := range t.Structures {
		if s.Type == typ {
			return s, true
		}
	}
	return Structure{}, false
}
