package assetcsv

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/fieldtext"
)

// Asset types.
const (
	TypeLaptop  = "laptop"
	TypeDesktop = "desktop"
	TypeServer  = "server"
	TypeVM      = "vm"
	TypeOther   = "other"
)

// Classifications.
const (
	ClassConfidential = "confidential"
	ClassInternal     = "internal"
	ClassPublic       = "public"
)

// Lifecycle statuses, in the order an asset usually passes them.
const (
	StatusOrdered        = "ordered"
	StatusInStock        = "in_stock"
	StatusInService      = "in_service"
	StatusInRepair       = "in_repair"
	StatusOffboarding    = "offboarding"
	StatusDecommissioned = "decommissioned"
	StatusDisposed       = "disposed"
)

// Types returns the asset types.
func Types() []string {
	return []string{TypeLaptop, TypeDesktop, TypeServer, TypeVM, TypeOther}
}

// Classifications returns the classifications, most sensitive first.
func Classifications() []string {
	return []string{ClassConfidential, ClassInternal, ClassPublic}
}

// Statuses returns the lifecycle statuses.
func Statuses() []string {
	return []string{StatusOrdered, StatusInStock, StatusInService, StatusInRepair, StatusOffboarding, StatusDecommissioned, StatusDisposed}
}

// ParseType, ParseClassification and ParseStatus accept a value in any case,
// with spaces or hyphens for underscores ("In Service", "in-service"), and
// return the canonical form. "" stays "" (not given).
func ParseType(s string) (string, error) { return oneOf("type", s, Types()) }

// ParseClassification: see ParseType.
func ParseClassification(s string) (string, error) {
	return oneOf("classification", s, Classifications())
}

// ParseStatus: see ParseType.
func ParseStatus(s string) (string, error) { return oneOf("status", s, Statuses()) }

func oneOf(what, s string, allowed []string) (string, error) {
	c := canonical(s)
	if c == "" {
		return "", nil
	}
	if slices.Contains(allowed, c) {
		return c, nil
	}
	return "", fmt.Errorf("%s %q: want one of %s", what, s, strings.Join(allowed, ", "))
}

// canonical lower-cases s and turns runs of spaces, hyphens and
// underscores into one underscore: "Asset  Tag" and "asset-tag" are
// "asset_tag".
func canonical(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == ' ' || r == '-' || r == '_' || r == '\t' || r == '\u00a0'
	})
	return strings.Join(f, "_")
}

// ParseDate returns s as YYYY-MM-DD. Only ISO dates are accepted: 03/04/2024
// is 3 April in Europe and 4 March in the US, and guessing would silently
// corrupt the register, so such dates get an error asking for YYYY-MM-DD.
// "" stays "".
func ParseDate(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	// ISO dates, with an optional time that spreadsheets and databases
	// append and that is dropped.
	for _, l := range []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format("2006-01-02"), nil
		}
	}
	if strings.ContainsAny(s, "/.") {
		return "", fmt.Errorf("purchase_date %q: write dates as YYYY-MM-DD (day and month order is ambiguous)", s)
	}
	return "", fmt.Errorf("purchase_date %q: not a date, want YYYY-MM-DD", s)
}

// ParseEmail checks that s is a bare address (no display name) with a dotted
// domain, and returns it with the domain lower-cased. "" stays "".
func ParseEmail(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("owner_email %q: not a valid email address (want name@example.com)", s)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", fmt.Errorf("owner_email %q: domain %q is not a full domain name", s, domain)
	}
	return local + "@" + strings.ToLower(domain), nil
}

// SplitTags splits a tags cell on ';' or '|' (',' is the file separator in
// half the world, so it cannot be), trims each tag, drops empty and repeated
// ones and keeps the order. Write joins with ';'.
func SplitTags(s string) []string {
	var tags []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' }) {
		t = strings.TrimSpace(t)
		if t == "" || slices.Contains(tags, t) {
			continue
		}
		tags = append(tags, t)
	}
	return tags
}

// Text applies fieldtext's rule to one field's value, for the CSV reader
// and the API alike: a Lines field (notes) may span lines (a CR LF or a
// lone CR becomes LF, so a value reads back as written), every other field
// is one line. It returns the value to store.
func Text(col, v string) (string, error) {
	if f, ok := Lookup(col); ok {
		return f.text(v)
	}
	return v, fieldtext.Check(col, v)
}

func (f Field) text(v string) (string, error) {
	if !f.Lines {
		return v, fieldtext.Check(f.Name, v)
	}
	v = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
	return v, fieldtext.CheckLines(f.Name, v)
}
