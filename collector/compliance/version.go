package compliance

import (
	"fmt"
	"strings"

	"github.com/rosterhq/roster/shared/debversion"
)

// CompareVersions orders two version strings and returns -1, 0 or +1.
//
// One algorithm serves OS versions ("22.04", "10.0.19045", "13.3.1") and
// package versions from every source the agent reports, because the fleet
// mixes them and a policy author should not have to name a scheme. It is the
// Debian algorithm (deb-version(7)), which is also right for plain dotted
// numbers and close to rpmvercmp for RPM versions:
//   - an optional numeric epoch before the first ':' wins over everything;
//   - the revision after the last '-' breaks ties of the upstream part;
//   - digit runs compare as numbers ("10" > "9", "007" = "7"), other runs
//     character by character with letters before non-letters and '~' before
//     anything, even the end ("1.0~rc1" < "1.0").
//
// A leading "v" is dropped ("v1.2" = "1.2") since software titles often carry it.
// Each part is compared by shared/debversion, the ordering the agent's apt
// candidate selection uses too.
func CompareVersions(a, b string) int {
	a, b = strings.TrimPrefix(strings.TrimSpace(a), "v"), strings.TrimPrefix(strings.TrimSpace(b), "v")
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := debversion.Fragment(ea, eb); c != 0 {
		return c
	}
	if c := debversion.Fragment(ua, ub); c != 0 {
		return c
	}
	return debversion.Fragment(ra, rb)
}

// splitVersion splits [epoch:]upstream[-revision]. The epoch is taken only
// when it is numeric, so a Windows or app version with a colon is left whole.
func splitVersion(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i > 0 && isDigits(v[:i]) {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Constraint is a parsed version constraint such as "< 2.4.50".
type Constraint struct {
	Op      string `json:"op"`
	Version string `json:"version"`
}

// ParseConstraint reads "OP VERSION" where OP is one of < <= = == != >= >;
// a bare version means "=".
func ParseConstraint(s string) (Constraint, error) {
	s = strings.TrimSpace(s)
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">", "="} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			v := strings.TrimSpace(rest)
			if v == "" {
				return Constraint{}, fmt.Errorf("version constraint %q has no version", s)
			}
			if op == "==" {
				op = "="
			}
			return Constraint{Op: op, Version: v}, nil
		}
	}
	if s == "" || strings.ContainsAny(s, " \t") {
		return Constraint{}, fmt.Errorf("version constraint %q: want OP VERSION, e.g. \"< 2.4.50\"", s)
	}
	return Constraint{Op: "=", Version: s}, nil
}

// Allows reports whether version v satisfies the constraint.
func (c Constraint) Allows(v string) bool {
	r := CompareVersions(v, c.Version)
	switch c.Op {
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	case "!=":
		return r != 0
	default:
		return r == 0
	}
}

func (c Constraint) String() string { return c.Op + " " + c.Version }
