package compliance

import (
	"fmt"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// SoftwareView answers which of a device's installed packages match a name
// pattern (see MatchPattern). Software is kept out of Facts because it is
// large: the registry answers from the device's stored list after a report,
// or from a fleet-wide index (one query per pattern, see Set.SoftwarePatterns)
// when it re-evaluates every device. A nil SoftwareView means the software
// inventory is unknown, and every policy that needs it is unknown.
type SoftwareView interface {
	Match(pattern string) ([]wire.Package, error)
}

// SoftwareList returns a SoftwareView over an in-memory package list.
func SoftwareList(pkgs []wire.Package) SoftwareView { return softwareList(pkgs) }

type softwareList []wire.Package

func (l softwareList) Match(pattern string) ([]wire.Package, error) {
	m := compilePattern(pattern)
	var out []wire.Package
	for _, p := range l {
		if m.match(p.Name) {
			out = append(out, p)
		}
	}
	return out, nil
}

// MatchPattern reports whether a package name matches a policy's name
// pattern: case-insensitive, '*' matches any run of characters (including
// none, and including '/' unlike path.Match, since package names are not
// paths) and '?' exactly one character. Everything else is literal, so names
// such as "libstdc++" or "Microsoft Visual C++ 2019" need no escaping.
// Case is ignored because Windows and macOS titles vary in case between
// vendors' releases.
func MatchPattern(pattern, name string) bool { return compilePattern(pattern).match(name) }

// namePattern is a pattern prepared once for matching many names.
type namePattern struct {
	raw     string
	literal bool // no wildcard: a case-insensitive comparison
	ascii   bool
	first   byte // lower-cased first byte when it is a literal ASCII one, else 0
}

func compilePattern(p string) namePattern {
	m := namePattern{raw: p, literal: !strings.ContainsAny(p, "*?"), ascii: isASCII(p)}
	if m.ascii && p != "" && p[0] != '*' && p[0] != '?' {
		m.first = lowerASCII(p[0])
	}
	return m
}

func (m namePattern) match(name string) bool {
	if m.literal {
		return strings.EqualFold(m.raw, name)
	}
	// Most names differ from the pattern in the first character: reject
	// them before any other work (a non-ASCII first byte takes the full path).
	if m.first != 0 && (name == "" || (name[0] < 0x80 && lowerASCII(name[0]) != m.first)) {
		return false
	}
	if m.ascii && isASCII(name) {
		// The common case, without allocating: policies are matched against
		// every package of every device when the fleet is re-evaluated.
		pattern := m.raw
		return wildcard(len(pattern), len(name),
			func(i int) rune { return rune(pattern[i]) },
			func(i, j int) bool { return lowerASCII(pattern[i]) == lowerASCII(name[j]) })
	}
	p, n := []rune(strings.ToLower(m.raw)), []rune(strings.ToLower(name))
	return wildcard(len(p), len(n), func(i int) rune { return p[i] }, func(i, j int) bool { return p[i] == n[j] })
}

// wildcard matches with one backtrack point: linear in practice and never
// exponential, whatever the pattern. at(i) is the pattern's i-th character
// and eq(i, j) compares it with the name's j-th.
func wildcard(plen, nlen int, at func(int) rune, eq func(int, int) bool) bool {
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < nlen {
		switch {
		case pi < plen && at(pi) == '*':
			star, mark = pi, ni
			pi++
		case pi < plen && (at(pi) == '?' || eq(pi, ni)):
			pi++
			ni++
		case star >= 0:
			pi, mark = star+1, mark+1
			ni = mark
		default:
			return false
		}
	}
	for pi < plen && at(pi) == '*' {
		pi++
	}
	return pi == plen
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// validPattern rejects patterns that cannot mean what the author wanted.
func validPattern(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("name pattern is empty")
	case strings.Trim(p, "*?") == "":
		return fmt.Errorf("name pattern %q matches every package", p)
	}
	return nil
}

// newest returns the package with the highest version, by CompareVersions.
func newest(pkgs []wire.Package) wire.Package {
	best := pkgs[0]
	for _, p := range pkgs[1:] {
		if CompareVersions(p.Version, best.Version) > 0 {
			best = p
		}
	}
	return best
}
