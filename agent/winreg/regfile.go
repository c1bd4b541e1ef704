package winreg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// RegFile is one parsed regedit export: its sections in file order.
type RegFile struct {
	// Version is 5 for "Windows Registry Editor Version 5.00" and 4 for
	// "REGEDIT4"; the two differ in how hex(2)/hex(7) strings are encoded.
	Version  int
	Sections []Section
}

// Section is one [key] block. Delete is true for [-key], which removes the
// key and everything below it.
type Section struct {
	Key     string
	Delete  bool
	Entries []Entry
}

// Entry is one "name"=data line. Name "" is the default value (@=).
// Delete is true for "name"=-.
type Entry struct {
	Name   string
	Delete bool
	Value  Value
}

// ParseRegFile parses a regedit export (.reg). The bytes may be UTF-16LE
// (regedit's default, with a BOM), UTF-8 with or without a BOM, or the ANSI
// code page (REGEDIT4 exports; read as Windows-1252). Line continuations,
// comments and blank lines are handled; a malformed line is an error naming
// its line number, because a silently skipped value would later read as
// "absent".
func ParseRegFile(b []byte) (*RegFile, error) {
	text := decodeRegText(b)
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	rf := &RegFile{}
	i := 0
	// The header is the first non-blank line.
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		switch l {
		case "Windows Registry Editor Version 5.00":
			rf.Version = 5
		case "REGEDIT4":
			rf.Version = 4
		default:
			return nil, fmt.Errorf("line %d: not a regedit export (header %q)", i+1, truncate(l, 60))
		}
		i++
		break
	}
	if rf.Version == 0 {
		return nil, errors.New("not a regedit export: no header")
	}
	var cur *Section
	for ; i < len(lines); i++ {
		lineNo := i + 1
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, ";") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			end := strings.LastIndex(l, "]")
			if end < 0 {
				return nil, fmt.Errorf("line %d: key header without closing bracket", lineNo)
			}
			key := l[1:end]
			del := strings.HasPrefix(key, "-")
			if del {
				key = key[1:]
			}
			if key == "" {
				return nil, fmt.Errorf("line %d: empty key name", lineNo)
			}
			rf.Sections = append(rf.Sections, Section{Key: key, Delete: del})
			cur = &rf.Sections[len(rf.Sections)-1]
			continue
		}
		// A value line may continue on following lines: regedit wraps hex
		// data at about 80 columns with a trailing backslash.
		for strings.HasSuffix(l, "\\") && isHexData(l) && i+1 < len(lines) {
			i++
			l = l[:len(l)-1] + strings.TrimSpace(lines[i])
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: value outside any [key] section", lineNo)
		}
		e, err := parseEntry(l, rf.Version)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		cur.Entries = append(cur.Entries, e)
	}
	return rf, nil
}

// isHexData reports whether a value line's data part is hex (the only
// kind regedit wraps). It looks past the quoted name so a name containing
// "=hex" does not fool it.
func isHexData(l string) bool {
	_, rest, err := parseName(l)
	if err != nil {
		return false
	}
	return strings.HasPrefix(strings.ToLower(rest), "=hex")
}

// parseName reads the leading @ or "quoted name" of a value line and
// returns the rest of the line (starting at "=").
func parseName(l string) (name, rest string, err error) {
	if strings.HasPrefix(l, "@") {
		return "", strings.TrimLeft(l[1:], " \t"), nil
	}
	if !strings.HasPrefix(l, `"`) {
		return "", "", fmt.Errorf("value line does not start with @ or a quoted name: %q", truncate(l, 60))
	}
	s, n, err := unquote(l)
	if err != nil {
		return "", "", fmt.Errorf("value name: %w", err)
	}
	return s, strings.TrimLeft(l[n:], " \t"), nil
}

// unquote reads a regedit string starting at s[0] == '"'. Regedit escapes
// only backslash and double quote. It returns the string and the number of
// bytes consumed including both quotes.
func unquote(s string) (string, int, error) {
	var sb strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
				continue
			}
			return "", 0, errors.New("unterminated escape")
		case '"':
			return sb.String(), i + 1, nil
		default:
			sb.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated string")
}

func parseEntry(l string, version int) (Entry, error) {
	name, rest, err := parseName(l)
	if err != nil {
		return Entry{}, err
	}
	if !strings.HasPrefix(rest, "=") {
		return Entry{}, fmt.Errorf("value %q: missing '='", name)
	}
	data := strings.TrimSpace(rest[1:])
	e := Entry{Name: name}
	lower := strings.ToLower(data)
	switch {
	case data == "-":
		e.Delete = true
	case strings.HasPrefix(data, `"`):
		s, n, err := unquote(data)
		if err != nil {
			return Entry{}, fmt.Errorf("value %q: %w", name, err)
		}
		if tail := strings.TrimSpace(data[n:]); tail != "" && !strings.HasPrefix(tail, ";") {
			return Entry{}, fmt.Errorf("value %q: text after closing quote", name)
		}
		e.Value = Value{Type: TypeString, String: s}
	case strings.HasPrefix(lower, "dword:"):
		u, err := strconv.ParseUint(strings.TrimSpace(data[len("dword:"):]), 16, 32)
		if err != nil {
			return Entry{}, fmt.Errorf("value %q: dword: %w", name, err)
		}
		e.Value = Value{Type: TypeDWORD, Uint: u}
	case strings.HasPrefix(lower, "hex"):
		kind := 3 // plain hex: is REG_BINARY
		spec, bytesText, ok := strings.Cut(data, ":")
		if !ok {
			return Entry{}, fmt.Errorf("value %q: hex data without ':'", name)
		}
		spec = strings.ToLower(spec)
		if spec != "hex" {
			if !strings.HasPrefix(spec, "hex(") || !strings.HasSuffix(spec, ")") {
				return Entry{}, fmt.Errorf("value %q: bad type %q", name, spec)
			}
			k, err := strconv.ParseUint(spec[4:len(spec)-1], 16, 32)
			if err != nil {
				return Entry{}, fmt.Errorf("value %q: bad type %q", name, spec)
			}
			kind = int(k)
		}
		raw, err := parseHexBytes(bytesText)
		if err != nil {
			return Entry{}, fmt.Errorf("value %q: %w", name, err)
		}
		e.Value = typedValue(kind, raw, version)
	default:
		return Entry{}, fmt.Errorf("value %q: unknown data %q", name, truncate(data, 40))
	}
	return e, nil
}

func parseHexBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []byte{}, nil
	}
	parts := strings.Split(s, ",")
	out := make([]byte, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			// A trailing comma before a continuation is harmless.
			continue
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, fmt.Errorf("hex byte %q: %w", truncate(p, 10), err)
		}
		out = append(out, byte(v))
	}
	return out, nil
}

// Registry value type numbers (winnt.h).
const (
	regNone        = 0
	regSZ          = 1
	regExpandSZ    = 2
	regBinary      = 3
	regDWORD       = 4
	regDWORDBigEnd = 5
	regMultiSZ     = 7
	regQWORD       = 0xb
	utf16Version   = 5
)

// typedValue turns hex(kind) bytes into a Value. Version 5 exports store
// string types as UTF-16LE; REGEDIT4 exports as ANSI bytes.
func typedValue(kind int, raw []byte, version int) Value {
	str := func() string {
		if version == utf16Version {
			return utf16String(raw)
		}
		return ansiString(raw)
	}
	switch kind {
	case regNone:
		return Value{Type: TypeNone, Bytes: raw}
	case regSZ:
		return Value{Type: TypeString, String: strings.TrimRight(str(), "\x00")}
	case regExpandSZ:
		return Value{Type: TypeExpandString, String: strings.TrimRight(str(), "\x00")}
	case regBinary:
		return Value{Type: TypeBinary, Bytes: raw}
	case regDWORD:
		if len(raw) == 4 {
			return Value{Type: TypeDWORD, Uint: uint64(binary.LittleEndian.Uint32(raw))}
		}
	case regDWORDBigEnd:
		if len(raw) == 4 {
			return Value{Type: TypeDWORD, Uint: uint64(binary.BigEndian.Uint32(raw))}
		}
	case regMultiSZ:
		s := strings.TrimRight(str(), "\x00")
		var list []string
		if s != "" {
			list = strings.Split(s, "\x00")
		}
		return Value{Type: TypeMultiString, Strings: list}
	case regQWORD:
		if len(raw) == 8 {
			return Value{Type: TypeQWORD, Uint: binary.LittleEndian.Uint64(raw)}
		}
	}
	// Other types (links, resource lists) and malformed integers keep their
	// bytes; nothing the probes read has them.
	return Value{Type: fmt.Sprintf("REG_TYPE_%d", kind), Bytes: raw}
}

func utf16String(raw []byte) string {
	u := make([]uint16, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(raw[i:]))
	}
	return string(utf16.Decode(u))
}

func ansiString(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	s, err := charmap.Windows1252.NewDecoder().Bytes(raw)
	if err != nil {
		return string(raw)
	}
	return string(s)
}

// decodeRegText turns the file's bytes into a Go string: UTF-16LE when it
// has the FF FE BOM or looks like UTF-16 (NUL every other byte), else UTF-8
// (BOM dropped), else Windows-1252.
func decodeRegText(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		return utf16String(b[2:])
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		b = b[3:]
	case len(b) >= 4 && b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0:
		return utf16String(b)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return ansiString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
