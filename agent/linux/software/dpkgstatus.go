package software

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// DpkgPackage is one stanza of /var/lib/dpkg/status.
type DpkgPackage struct {
	Name         string
	Version      string
	Architecture string
	Maintainer   string
	// Want, Flag and State are the three words of the Status field
	// ("install ok installed"); State is what dpkg-query calls
	// db:Status-Status.
	Want, Flag, State string
}

// Installed reports whether the package's files are on disk and
// configured, the way `dpkg -l` marks it "ii". Packages removed but for
// their configuration files ("config-files") or never finished
// ("half-installed", "unpacked") are not installed software.
func (p DpkgPackage) Installed() bool { return p.State == "installed" }

// ParseDpkgStatus parses dpkg's status database: RFC 822-style stanzas
// separated by blank lines, "Field: value" lines, and continuation lines
// that start with a space or tab (Description, Conffiles), which belong to
// the field before them and are skipped here. Every stanza with a Package
// field is returned, whatever its state; callers filter with Installed.
func ParseDpkgStatus(r io.Reader) ([]DpkgPackage, error) {
	var out []DpkgPackage
	var cur DpkgPackage
	flush := func() {
		if cur.Name != "" {
			out = append(out, cur)
		}
		cur = DpkgPackage{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Package":
			cur.Name = val
		case "Version":
			cur.Version = val
		case "Architecture":
			cur.Architecture = val
		case "Maintainer":
			cur.Maintainer = val
		case "Status":
			f := strings.Fields(val)
			if len(f) == 3 {
				cur.Want, cur.Flag, cur.State = f[0], f[1], f[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read dpkg status: %w", err)
	}
	flush()
	return out, nil
}
