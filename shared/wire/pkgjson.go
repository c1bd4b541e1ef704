package wire

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendPackageJSON appends p's JSON encoding to dst: exactly the bytes
// encoding/json's Marshal gives for it, which the second hash form digests
// package by package (PackageDigestHash) and the collector keeps for every
// stored package. Marshal reflects over the struct and allocates for each
// package; this writes the seven fields in their order, each string
// escaped as Marshal escapes it (HTML characters, U+2028 and U+2029, and
// invalid UTF-8 as U+FFFD included). TestAppendPackageJSONIsMarshal and
// FuzzAppendPackageJSON hold it to Marshal's output.
func AppendPackageJSON(dst []byte, p *Package) ([]byte, error) {
	var date []byte
	if p.InstallDate != nil {
		b, err := p.InstallDate.MarshalJSON()
		if err != nil {
			// Marshal's own error for a date it cannot write.
			if _, merr := json.Marshal(p); merr != nil {
				err = merr
			}
			return dst, err
		}
		date = b
	}
	dst = append(dst, `{"name":`...)
	dst = appendJSONString(dst, p.Name)
	if p.Version != "" {
		dst = append(dst, `,"version":`...)
		dst = appendJSONString(dst, p.Version)
	}
	if p.Arch != "" {
		dst = append(dst, `,"arch":`...)
		dst = appendJSONString(dst, p.Arch)
	}
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, p.Source)
	if p.Publisher != "" {
		dst = append(dst, `,"publisher":`...)
		dst = appendJSONString(dst, p.Publisher)
	}
	if date != nil {
		dst = append(dst, `,"install_date":`...)
		dst = append(dst, date...)
	}
	if p.Location != "" {
		dst = append(dst, `,"location":`...)
		dst = appendJSONString(dst, p.Location)
	}
	return append(dst, '}'), nil
}

const lowerHex = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json writes a string with
// HTML escaping (its default).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', lowerHex[b>>4], lowerHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', lowerHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
