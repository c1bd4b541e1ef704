package software

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// PacmanPackage is one package of `pacman -Qi`.
type PacmanPackage struct {
	Name        string
	Version     string
	Arch        string
	Packager    string
	InstallDate time.Time
}

// pacmanDateLayouts are the shapes of pacman's "%c" dates: the C locale
// (what the agent's runner asks for with LC_ALL=C) and en_US, which adds
// AM/PM and a zone ("Fri 24 May 2024 09:50:31 AM +08").
var pacmanDateLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon 02 Jan 2006 03:04:05 PM -07",
	"Mon 02 Jan 2006 03:04:05 PM MST",
	"Mon 02 Jan 2006 03:04:05 PM",
}

// ParsePacmanQi parses `pacman -Qi`: one stanza per package separated by
// blank lines, "Key   : value" lines, and continuation lines (long
// Optional Deps lists) indented under the value. Dates without a zone
// are in the host's local time, passed as loc.
func ParsePacmanQi(r io.Reader, loc *time.Location) ([]PacmanPackage, error) {
	var out []PacmanPackage
	var cur PacmanPackage
	flush := func() {
		if cur.Name != "" {
			out = append(out, cur)
		}
		cur = PacmanPackage{}
	}
	sc := newScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		key, val, ok := strings.Cut(line, " : ")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "Name":
			// A new Name without a blank line before it still starts
			// a new package.
			flush()
			cur.Name = val
		case "Version":
			cur.Version = val
		case "Architecture":
			cur.Arch = val
		case "Packager":
			if val != "Unknown Packager" {
				cur.Packager = val
			}
		case "Install Date":
			cur.InstallDate = parsePacmanDate(val, loc)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read pacman -Qi: %w", err)
	}
	flush()
	return out, nil
}

func parsePacmanDate(s string, loc *time.Location) time.Time {
	for _, l := range pacmanDateLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
