package windows

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// oemCodePages maps Windows OEM code page numbers (the OEMCP registry value)
// to decoders. Console tools such as systeminfo write in the OEM code page
// when their output is redirected.
var oemCodePages = map[string]encoding.Encoding{
	"437":  charmap.CodePage437,
	"850":  charmap.CodePage850,
	"852":  charmap.CodePage852,
	"855":  charmap.CodePage855,
	"858":  charmap.CodePage858,
	"862":  charmap.CodePage862,
	"866":  charmap.CodePage866,
	"1252": charmap.Windows1252,
	"932":  japanese.ShiftJIS,
	"936":  simplifiedchinese.GBK,
	"949":  korean.EUCKR,
	"950":  traditionalchinese.Big5,
}

// DecodeOutput turns a Windows command's output into UTF-8. UTF-16LE is
// recognised by its BOM or by NUL high bytes (wmic redirected to a file);
// a UTF-8 BOM is dropped; valid UTF-8 is kept. Anything else is in a legacy
// OEM code page: oemcp names it when known (from the registry), otherwise
// GBK is tried (it is the only multi-byte code page among the captures) and
// code page 850 (western European) is the last resort.
func DecodeOutput(b []byte, oemcp string) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		return decodeUTF16LE(b[2:])
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		b = b[3:]
	case len(b) >= 4 && b[1] == 0 && b[3] == 0 && b[0] != 0:
		return decodeUTF16LE(b)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	if enc, ok := oemCodePages[oemcp]; ok {
		if s, err := enc.NewDecoder().Bytes(b); err == nil {
			return string(s)
		}
	}
	if s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b); err == nil && looksHan(string(s)) {
		return string(s)
	}
	s, _ := charmap.CodePage850.NewDecoder().Bytes(b)
	return string(s)
}

func decodeUTF16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return string(utf16.Decode(u))
}

// looksHan reports whether a GBK decoding produced Chinese text and no
// replacement characters, i.e. the bytes really were GBK.
func looksHan(s string) bool {
	if strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// splitLines splits decoded output into lines without CR.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}
