// Package identity normalises the hardware identifiers that tie a device to
// an asset: serial numbers, SMBIOS system UUIDs and MAC addresses. The agent
// applies it before reporting and the collector applies it again before
// matching, so both sides agree on what counts as "no serial".
//
// Firmware often ships placeholder strings instead of real identifiers. The
// lists below follow the ones GLPI's agent and OCS Inventory keep (see
// GLPI-Agent lib/GLPI/Agent/Tools/Generic.pm and OCS's
// Ocsinventory/Agent/Backend/OS/Generic/Dmidecode) plus values seen in the
// captures under testdata/.
package identity

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// placeholders are compared after Clean and case folding.
var placeholders = map[string]struct{}{
	"to be filled by o.e.m.":      {},
	"to be filled by oem":         {},
	"to be filled by o.e.m":       {},
	"default string":              {},
	"system serial number":        {},
	"system product name":         {},
	"system manufacturer":         {},
	"system version":              {},
	"chassis serial number":       {},
	"base board serial number":    {},
	"serial number":               {},
	"serialnumber":                {},
	"not specified":               {},
	"not applicable":              {},
	"not available":               {},
	"not present":                 {},
	"not settable":                {},
	"none":                        {},
	"null":                        {},
	"n/a":                         {},
	"na":                          {},
	"unknown":                     {},
	"undefined":                   {},
	"invalid":                     {},
	"empty":                       {},
	"default":                     {},
	"oem":                         {},
	"o.e.m.":                      {},
	"o.e.m":                       {},
	"xxxxxxxxxx":                  {},
	"xxxxxxxxxxxx":                {},
	"0123456789":                  {},
	"123456789":                   {},
	"1234567890":                  {},
	"12345678":                    {},
	"0123456789abcdef":            {},
	"00000000":                    {},
	"ffffffff":                    {},
	"type1productconfigid":        {},
	"type2 - board serial number": {},
	"<bad index>":                 {},
	"[empty]":                     {},
	"empty by asus":               {},
	"fill by oem":                 {},
	"filled by o.e.m.":            {},
	"mb-1234567890":               {},
	"serial":                      {},
	// Seen in the real dumps under agent/smbios/testdata and
	// testdata/fixtures/linux/dmidecode: Lenovo's and VMware's asset tags,
	// Insyde's unfilled templates (Toshiba Satellite Pro L70-A).
	"no asset information":           {},
	"no asset tag":                   {},
	"asset-1234567890":               {},
	"type1family":                    {},
	"type1sku0":                      {},
	"type2 - board vendor name1":     {},
	"type2 - board product name1":    {},
	"type2 - board version":          {},
	"type2 - board asset tag":        {},
	"type2 - board chassis location": {},
	"oem chassis manufacturer":       {},
	"oem chassis version":            {},
	"oem chassis serial number":      {},
	"chassis sku":                    {},
	"chassis version":                {},
	"chassis manufacture":            {},
	"no enclosure":                   {},
}

// repeated reports whether s is one character repeated (0000, ****, FFFF),
// which firmware uses for "no serial".
func repeated(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}

// Clean trims spaces, NULs and control characters that firmware pads
// strings with, and collapses inner runs of spaces. Invalid UTF-8 (U+FFFD)
// is dropped.
func Clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || r == 0 || (unicode.IsControl(r) && r != ' ') {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// IsPlaceholder reports whether s, once cleaned, carries no identity: empty,
// a known placeholder, or one character repeated.
func IsPlaceholder(s string) bool {
	c := strings.ToLower(Clean(s))
	if c == "" {
		return true
	}
	if _, ok := placeholders[c]; ok {
		return true
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', ':', '.':
			return -1
		}
		return r
	}, c)
	if compact == "" || repeated(compact) {
		return true
	}
	return false
}

// Text returns s cleaned, or "" when it is a placeholder. Use it for vendor,
// model and other descriptive fields.
func Text(s string) string {
	if IsPlaceholder(s) {
		return ""
	}
	return Clean(s)
}

// Serial normalises a serial number: cleaned, upper-cased, "" when a
// placeholder. Matching compares Serial(a) == Serial(b).
func Serial(s string) string {
	// Upper-casing can turn a string into a placeholder ("ſſ" into "SS"),
	// so the normalised form is what is checked.
	c := strings.ToUpper(Clean(s))
	if IsPlaceholder(c) {
		return ""
	}
	return c
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// UUID normalises an SMBIOS system UUID to lower-case 8-4-4-4-12 form. It
// returns "" for placeholders (all zeros, all F, one digit repeated, the
// 03000200-0400-0500-0006-000700080009 that many boards ship) and for strings
// that are not UUIDs at all.
func UUID(s string) string {
	c := strings.ToLower(Clean(s))
	c = strings.Trim(c, "{}")
	if len(c) == 32 && !strings.Contains(c, "-") {
		c = c[0:8] + "-" + c[8:12] + "-" + c[12:16] + "-" + c[16:20] + "-" + c[20:]
	}
	if !uuidRe.MatchString(c) {
		return ""
	}
	hex := strings.ReplaceAll(c, "-", "")
	if repeated(hex) {
		return ""
	}
	switch c {
	case "03000200-0400-0500-0006-000700080009", // common AMI/ASUS placeholder
		"00020003-0004-0005-0006-000700080009", // the same, byte-swapped
		"01234567-8901-2345-6789-012345678901",
		"12345678-1234-5678-90ab-cddeefaabbcc":
		return ""
	}
	return c
}

var macRe = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

// MAC normalises a MAC address to lower-case colon form and returns "" for
// the all-zero, broadcast and malformed addresses.
func MAC(s string) string {
	c := strings.ToLower(Clean(s))
	c = strings.ReplaceAll(c, "-", ":")
	if len(c) == 12 && !strings.Contains(c, ":") {
		c = c[0:2] + ":" + c[2:4] + ":" + c[4:6] + ":" + c[6:8] + ":" + c[8:10] + ":" + c[10:12]
	}
	if !macRe.MatchString(c) {
		return ""
	}
	if c == "00:00:00:00:00:00" || c == "ff:ff:ff:ff:ff:ff" {
		return ""
	}
	return c
}
