package software

import (
	"fmt"
	"io"
	"strings"
)

// SnapPackage is one row of `snap list`.
type SnapPackage struct {
	Name      string
	Version   string
	Revision  string
	Tracking  string
	Publisher string
	Notes     string
}

// ParseSnapList parses `snap list`: a header "Name Version Rev Tracking
// Publisher Notes" and one row per installed snap, columns separated by
// spaces. Snap names, versions, revisions, channels and publisher names
// contain no spaces, so splitting on white space is exact. The publisher
// column carries a verification mark (✓ verified, ✪ star developer; "*"
// in old snapd) that is not part of the name and is dropped; "-" means no
// publisher (a locally installed snap). Rows marked "disabled" (shown by
// --all) are not active software and are skipped.
func ParseSnapList(r io.Reader) ([]SnapPackage, error) {
	var out []SnapPackage
	sc := newScanner(r)
	header := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !header {
			if f[0] == "Name" {
				header = true
			}
			continue
		}
		if len(f) < 5 {
			continue
		}
		p := SnapPackage{Name: f[0], Version: f[1], Revision: f[2], Tracking: f[3], Publisher: trimSnapMark(f[4])}
		if len(f) > 5 {
			p.Notes = f[5]
		}
		if p.Publisher == "-" {
			p.Publisher = ""
		}
		if strings.Contains(p.Notes, "disabled") {
			continue
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read snap list: %w", err)
	}
	return out, nil
}

func trimSnapMark(s string) string {
	for _, m := range []string{"✓", "✪", "*"} {
		s = strings.TrimSuffix(s, m)
	}
	return s
}
