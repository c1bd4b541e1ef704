package software

import (
	"fmt"
	"io"
	"strings"
)

// FlatpakColumns is the --columns argument the flatpak probe passes.
const FlatpakColumns = "application,version,arch,origin,installation"

// FlatpakPackage is one row of `flatpak list --columns=FlatpakColumns`.
type FlatpakPackage struct {
	Application  string
	Version      string
	Arch         string
	Origin       string
	Installation string
}

// ParseFlatpakList parses `flatpak list --columns=application,version,
// arch,origin,installation`. When its output is not a terminal flatpak
// prints the columns separated by tabs, without a header; an empty
// column (many runtimes have no version) stays an empty field. A header
// row, as printed on a terminal, is skipped.
func ParseFlatpakList(r io.Reader) ([]FlatpakPackage, error) {
	var out []FlatpakPackage
	sc := newScanner(r)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		var f []string
		if strings.Contains(line, "\t") {
			f = strings.Split(line, "\t")
		} else {
			f = strings.Fields(line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 5 || f[0] == "" || f[0] == "Application ID" || f[0] == "Application" {
			continue
		}
		out = append(out, FlatpakPackage{Application: f[0], Version: f[1], Arch: f[2], Origin: f[3], Installation: f[4]})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read flatpak list: %w", err)
	}
	return out, nil
}
