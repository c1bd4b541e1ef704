package darwin

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
)

// ioregPlatform is what `ioreg -rd1 -c IOPlatformExpertDevice` says about the
// machine: the IORegistry node the firmware fills from the logic board's
// identity, the same one system_profiler and About This Mac read.
type ioregPlatform struct {
	Serial       string // IOPlatformSerialNumber
	UUID         string // IOPlatformUUID (the "Hardware UUID")
	Model        string // model, e.g. "MacBookPro12,1"
	BoardID      string // board-id, e.g. "Mac-..." (Intel); absent on Apple silicon
	Manufacturer string // manufacturer, "Apple Inc."
	ProductName  string // product-name
	// Properties holds every property the parser could read as text, for
	// the reasons the probe gives ("IOPlatformSerialNumber = ...").
	Properties map[string]string
}

// parseIORegPlatform reads the text form of `ioreg -rd1 -c
// IOPlatformExpertDevice`. The text form is chosen over `ioreg -a` (plist)
// because the only real capture found is of the text form (see the fixtures'
// SOURCES.md); the text form is also what every script in the field greps.
//
// Each property sits on one line, `"key" = value`, where value is a quoted
// string ("C02..."), data that ioreg prints as a quoted string when it is
// printable (<"MacBookPro12,1">), raw data as hex (<00e1f505>), a number or a
// list. Data values are NUL-terminated C strings, so trailing NULs are cut.
// Lines cut short (a terminal capture ends them with "$") are skipped.
func parseIORegPlatform(b []byte) (ioregPlatform, error) {
	p := ioregPlatform{Properties: map[string]string{}}
	sawNode := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "+-o ") && strings.Contains(line, "<class IOPlatformExpertDevice") {
			sawNode = true
			continue
		}
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		end := strings.Index(line[1:], `" = `)
		if end < 0 {
			continue
		}
		key := line[1 : end+1]
		if v, ok := ioregValue(line[end+1+len(`" = `):]); ok {
			p.Properties[key] = v
		}
	}
	if err := sc.Err(); err != nil {
		return ioregPlatform{}, err
	}
	if !sawNode {
		return ioregPlatform{}, errors.New("ioreg output has no IOPlatformExpertDevice node")
	}
	p.Serial = p.Properties["IOPlatformSerialNumber"]
	p.UUID = p.Properties["IOPlatformUUID"]
	p.Model = p.Properties["model"]
	p.BoardID = p.Properties["board-id"]
	p.Manufacturer = p.Properties["manufacturer"]
	p.ProductName = p.Properties["product-name"]
	return p, nil
}

// ioregValue decodes one property value as text; ok is false for values that
// are not text (numbers, lists, binary data, truncated lines).
func ioregValue(v string) (string, bool) {
	switch {
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		return v[1 : len(v)-1], true
	case len(v) >= 4 && strings.HasPrefix(v, `<"`) && strings.HasSuffix(v, `">`):
		// Data holding several C strings prints as <"a","b">: the first one.
		s, _, _ := strings.Cut(v[2:len(v)-2], `","`)
		return s, true
	case len(v) >= 2 && v[0] == '<' && v[len(v)-1] == '>':
		raw, err := hex.DecodeString(v[1 : len(v)-1])
		if err != nil {
			return "", false
		}
		return cString(raw)
	}
	return "", false
}

// cString reads NUL-terminated (and NUL-padded) data as printable text.
func cString(raw []byte) (string, bool) {
	s := string(bytes.TrimRight(raw, "\x00"))
	if s == "" || strings.ContainsRune(s, 0) {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return s, true
}
