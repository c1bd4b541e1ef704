// Package fieldtext is Roster's one rule for the characters a name, label,
// reason, ticket or note may hold, and the one way to show text that breaks
// it. The collector refuses such input at every boundary where people type
// it (API, CSV import, configuration, policy files) with Check or
// CheckLines; rosterctl passes everything it prints for a person through
// Escape, because values that devices report (hostnames, software names)
// are not refused and an attacker may control them.
//
// Refused everywhere: C0 controls (U+0000–U+001F, so NUL and ESC), DEL
// (U+007F), C1 controls (U+0080–U+009F, which some terminals read as CSI),
// the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069, which reorder what a reader sees: "Trojan Source",
// CVE-2021-42574), the line and paragraph separators U+2028 and U+2029, and
// invalid UTF-8. CheckLines allows line feed and tab, for multi-line free
// text such as an asset's notes; a carriage return is refused there too, so
// one line break reads back the same everywhere.
//
// The package has no dependencies beyond the standard library so that
// rosterctl, which imports no collector internals, can share it.
package fieldtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error says which field held which refused character, and where. Pos
// counts characters from 1 (an invalid UTF-8 byte counts as one).
type Error struct {
	Field string
	Pos   int
	// Rune is the refused character; utf8.RuneError with Byte set for
	// invalid UTF-8.
	Rune rune
	Byte byte
}

func (e *Error) Error() string { return e.Field + ": " + e.Detail() }

// Detail is the message without the field's name, for callers that name
// the field their own way.
func (e *Error) Detail() string {
	if e.Rune == utf8.RuneError {
		return fmt.Sprintf("invalid UTF-8 (byte 0x%02X) at position %d is not allowed", e.Byte, e.Pos)
	}
	return fmt.Sprintf("%s U+%04X at position %d is not allowed", kind(e.Rune), e.Rune, e.Pos)
}

func kind(r rune) string {
	switch {
	case r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029:
		return "line break"
	case r == '\t':
		return "tab"
	case isBidi(r):
		return "bidirectional control"
	}
	return "control character"
}

// Check refuses a one-line value (a name, label, ticket, reason) holding a
// character the package refuses, or a line feed or tab. An empty value
// passes: whether a field is required is the caller's rule.
func Check(field, value string) error { return check(field, value, false) }

// CheckLines is Check for multi-line free text: line feeds and tabs pass.
func CheckLines(field, value string) error { return check(field, value, true) }

func check(field, value string, lines bool) error {
	pos := 0
	for i, r := range value {
		pos++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(value[i:]); size == 1 {
				return &Error{Field: field, Pos: pos, Rune: r, Byte: value[i]}
			}
			continue
		}
		if lines && (r == '\n' || r == '\t') {
			continue
		}
		if Refused(r) {
			return &Error{Field: field, Pos: pos, Rune: r}
		}
	}
	return nil
}

// Refused reports whether r may not appear in a one-line field.
func Refused(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidi(r) || r == 0x2028 || r == 0x2029
}

func isBidi(r rune) bool { return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) }

// Escape returns s with every refused character written as visible text,
// so that printing it cannot move the cursor, recolour, retitle or clear a
// terminal, nor reorder what a reader sees: ESC becomes \x1b, NUL \x00,
// line feed \n, tab \t, a C1 or bidirectional control \u009b or \u202e,
// an invalid byte \xff. Everything else, backslashes included, is kept as
// it is: Escape is for people to read, not a reversible encoding.
func Escape(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || Refused(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for len(s[i:]) > 0 {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && Refused(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case Refused(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeJSON returns the JSON document doc with every refused character
// that JSON lets stand unescaped (DEL, C1 and bidirectional controls,
// U+2028, U+2029) written as a \u escape, and every invalid UTF-8 byte as
// \ufffd, so the document means the same and prints safely. Valid JSON
// holds no raw C0 control, and none of these characters may stand outside
// a string, so the rewrite never changes the document's structure.
func EscapeJSON(doc []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && size == 1 || r >= 0x7f && Refused(r) {
			if out == nil {
				out = make([]byte, 0, len(doc)+16)
			}
			out = append(out, doc[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, r)
			last = i + size
		}
		i += size
	}
	if out == nil {
		return doc
	}
	return append(out, doc[last:]...)
}
