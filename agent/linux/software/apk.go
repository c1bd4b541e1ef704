package software

import (
	"fmt"
	"io"
	"strings"
)

// APKPackage is one package of Alpine's installed database.
type APKPackage struct {
	Name       string // P:
	Version    string // V:
	Arch       string // A:
	Maintainer string // m:
	Origin     string // o: the source package
}

// ParseAPKInstalled parses /lib/apk/db/installed: one stanza per package,
// separated by blank lines, each line a one-letter key, a colon and a
// value. File and checksum lines (F:, R:, Z:, a:, M:) are skipped. apk
// records no install time (t: is the build time), so none is returned.
func ParseAPKInstalled(r io.Reader) ([]APKPackage, error) {
	var out []APKPackage
	var cur APKPackage
	flush := func() {
		if cur.Name != "" {
			out = append(out, cur)
		}
		cur = APKPackage{}
	}
	sc := newScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = val
		case 'V':
			cur.Version = val
		case 'A':
			cur.Arch = val
		case 'm':
			cur.Maintainer = val
		case 'o':
			cur.Origin = val
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read apk database: %w", err)
	}
	flush()
	return out, nil
}
