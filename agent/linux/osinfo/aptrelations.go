package osinfo

import (
	"strings"

	"github.com/rosterhq/roster/shared/debversion"
)

// aptRel is one alternative of a Depends-style field: "name[:arch] (op version)".
type aptRel struct {
	Name, ArchQual, Op, Version string
}

// parseRelations splits a Depends, Pre-Depends, Recommends, Breaks,
// Conflicts or Provides field into groups of alternatives. Architecture
// restrictions ("[amd64]") and build profiles ("<!nocheck>") only appear
// in source packages; they are dropped if present.
func parseRelations(field string) [][]aptRel {
	if strings.TrimSpace(field) == "" {
		return nil
	}
	var out [][]aptRel
	for _, group := range strings.Split(field, ",") {
		var alts []aptRel
		for _, alt := range strings.Split(group, "|") {
			var r aptRel
			head, ver, hasVer := strings.Cut(alt, "(")
			ver, _, _ = strings.Cut(ver, ")")
			r.Name = strings.TrimSpace(dropBracketed(dropBracketed(head, '[', ']'), '<', '>'))
			if hasVer {
				ver = strings.TrimSpace(ver)
				i := 0
				for i < len(ver) && strings.IndexByte("<=>", ver[i]) >= 0 {
					i++
				}
				r.Op, r.Version = ver[:i], strings.TrimSpace(ver[i:])
				switch r.Op { // the obsolete forms mean <= and >=
				case "<":
					r.Op = "<="
				case ">":
					r.Op = ">="
				}
			}
			if n, q, ok := strings.Cut(r.Name, ":"); ok {
				r.Name, r.ArchQual = n, q
			}
			if r.Name != "" {
				alts = append(alts, r)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

func dropBracketed(s string, open, close byte) string {
	for {
		i := strings.IndexByte(s, open)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], close)
		if j < 0 {
			return s[:i]
		}
		s = s[:i] + s[i+j+1:]
	}
}

// versionSatisfies reports whether version v meets "op want"; an empty op
// is met by every version.
func versionSatisfies(v, op, want string) bool {
	if op == "" {
		return true
	}
	c := debversion.Compare(v, want)
	switch op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}
