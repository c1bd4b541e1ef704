// Package debversion orders version strings as dpkg does (deb-version(7)).
// The agent picks apt candidates with Compare, which must match dpkg
// exactly; the collector's policy comparison (collector/compliance
// CompareVersions) splits versions more loosely — a leading "v" dropped, an
// epoch only when numeric — and compares each part with Fragment. One
// definition of the ordering serves both sides.
package debversion

import "strings"

// Compare orders two Debian package versions as dpkg does
// (deb-version(7)) and returns -1, 0 or +1: a numeric epoch before the
// first ':' first, then the upstream part, then the revision after the
// last '-'; within each, non-digit runs compare character by character
// with '~' before everything (even the end) and letters before other
// characters, and digit runs compare as numbers.
func Compare(a, b string) int {
	ea, ua, ra := splitDebVersion(a)
	eb, ub, rb := splitDebVersion(b)
	if c := compareDebEpoch(ea, eb); c != 0 {
		return c
	}
	if c := Fragment(ua, ub); c != 0 {
		return c
	}
	return Fragment(ra, rb)
}

func splitDebVersion(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// compareDebEpoch compares epochs as numbers; an absent epoch is 0.
func compareDebEpoch(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

// Fragment is dpkg's verrevcmp: it orders one part of a version (the
// upstream part or the revision) by alternating non-digit and digit runs.
func Fragment(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ca, cb := charOrder(a), charOrder(b)
			if ca != cb {
				return sign(ca - cb)
			}
			a, b = a[1:], b[1:]
		}
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		da, db := 0, 0
		for da < len(a) && isDigit(a[da]) {
			da++
		}
		for db < len(b) && isDigit(b[db]) {
			db++
		}
		if da != db {
			return sign(da - db)
		}
		if c := strings.Compare(a[:da], b[:db]); c != 0 {
			return c
		}
		a, b = a[da:], b[db:]
	}
	return 0
}

// charOrder is dpkg's order(): '~' before the end of the string, the
// end (or a digit) before letters, letters before everything else.
func charOrder(s string) int {
	if s == "" || isDigit(s[0]) {
		return 0
	}
	c := s[0]
	switch {
	case c == '~':
		return -1
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
