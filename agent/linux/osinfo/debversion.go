package osinfo

import "strings"

// CompareDebVersions orders two Debian package versions as dpkg does
// (deb-version(7)) and returns -1, 0 or +1: a numeric epoch before the
// first ':' first, then the upstream part, then the revision after the
// last '-'; within each, non-digit runs compare character by character
// with '~' before everything (even the end) and letters before other
// characters, and digit runs compare as numbers.
//
// The collector has a looser comparison for policies (collector/compliance
// CompareVersions: it drops a leading "v" and serves every platform's
// version strings); the agent cannot import it, and candidate selection
// must match dpkg exactly, so this one follows dpkg's verrevcmp and nothing
// else.
func CompareDebVersions(a, b string) int {
	ea, ua, ra := splitDebVersion(a)
	eb, ub, rb := splitDebVersion(b)
	if c := compareDebEpoch(ea, eb); c != 0 {
		return c
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
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

func verrevcmp(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ca, cb := debCharOrder(a), debCharOrder(b)
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

// debCharOrder is dpkg's order(): '~' before the end of the string, the
// end (or a digit) before letters, letters before everything else.
func debCharOrder(s string) int {
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
