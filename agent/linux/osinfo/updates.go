package osinfo

import (
	"fmt"
	"io"
	"strings"

	"github.com/rosterhq/roster/shared/wire"
)

// ParseAptSimulation reads the "Inst" lines of a simulated upgrade
// (apt-get --just-print full-upgrade):
//
//	Inst tzdata [2025a-0+deb12u1] (2025b-0+deb12u1 Debian:12-updates/stable-updates [all])
//	Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
//
// The bracketed old version is absent for a package the upgrade would
// newly install (a new dependency); it is still pending, because the
// upgrade cannot happen without it. A package is a security update when
// one of the archives offering the new version is a security archive
// (Debian-Security:..., or a suite ending in -security as Ubuntu's
// "Ubuntu:22.04/jammy-security"). Conf/Remv lines and repeated Inst lines
// for the same package and version are not counted again.
func ParseAptSimulation(r io.Reader) ([]wire.PendingUpdate, error) {
	var out []wire.PendingUpdate
	seen := map[string]bool{}
	sc := newLineScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Inst ")
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(rest, " ")
		if name == "" {
			continue
		}
		var p wire.PendingUpdate
		p.Name = name
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			p.Installed = rest[1:end]
			rest = strings.TrimSpace(rest[end+1:])
		}
		if strings.HasPrefix(rest, "(") {
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				end = len(rest)
			}
			inner := rest[1:end]
			ver, origins, _ := strings.Cut(inner, " ")
			p.Version = ver
			p.Security = aptSecurityOrigin(origins)
		}
		key := p.Name + " " + p.Version
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read apt-get simulation: %w", err)
	}
	return out, nil
}

// aptSecurityOrigin reports whether an apt origin list ("Debian:12.15/
// oldstable, Debian-Security:12/oldstable-security [amd64]") names a
// security archive.
func aptSecurityOrigin(origins string) bool {
	if i := strings.LastIndexByte(origins, '['); i >= 0 {
		origins = origins[:i]
	}
	for _, o := range strings.Split(origins, ",") {
		o = strings.TrimSpace(o)
		if strings.HasPrefix(o, "Debian-Security:") || strings.HasSuffix(o, "-security") {
			return true
		}
	}
	return false
}

// ParseDNFCheckUpdate reads the package list of `dnf check-update` (and
// `yum check-update`, same layout): "name.arch  [epoch:]version-release
// repo" in columns, where a name too long for its column pushes version
// and repo onto the next, indented line. The list ends at "Obsoleting
// Packages", whose entries pair a new package with the installed one it
// replaces and are not updates of their own; "Security:" notes that dnf
// prints about running kernels come after and are skipped too.
func ParseDNFCheckUpdate(r io.Reader) ([]wire.PendingUpdate, error) {
	var out []wire.PendingUpdate
	pending := "" // a name.arch whose version is on the next line
	add := func(nameArch, version string) {
		name := nameArch
		if i := strings.LastIndexByte(nameArch, '.'); i > 0 {
			name = nameArch[:i]
		}
		out = append(out, wire.PendingUpdate{Name: name, Version: version})
	}
	sc := newLineScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Obsoleting Packages") {
			break
		}
		f := strings.Fields(line)
		indented := line != "" && (line[0] == ' ' || line[0] == '\t')
		switch {
		case pending != "" && indented && len(f) == 2:
			add(pending, f[0])
			pending = ""
		case !indented && len(f) == 3 && dnfNameArch(f[0]):
			pending = ""
			add(f[0], f[1])
		case !indented && len(f) == 1 && dnfNameArch(f[0]):
			pending = f[0]
		default:
			pending = ""
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read dnf check-update: %w", err)
	}
	return out, nil
}

// dnfNameArch tells a "name.arch" column from header and message words
// ("Loaded", "*", "Last", "Security:").
func dnfNameArch(s string) bool {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 || strings.HasSuffix(s, ":") || strings.HasPrefix(s, "*") {
		return false
	}
	return true
}

// ParseDNFUpdateInfo reads `dnf updateinfo list --security`: one line per
// advisory and package, "ADVISORY  Severity/Sec.  name-[epoch:]version-
// release.arch". It returns the package names, once each.
func ParseDNFUpdateInfo(r io.Reader) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	sc := newLineScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || !strings.Contains(f[1], "Sec") {
			continue
		}
		name := nevraName(f[2])
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read dnf updateinfo: %w", err)
	}
	return out, nil
}

// nevraName returns the name of "name-[epoch:]version-release.arch".
func nevraName(nevra string) string {
	if i := strings.LastIndexByte(nevra, '.'); i > 0 {
		nevra = nevra[:i]
	}
	for range 2 {
		i := strings.LastIndexByte(nevra, '-')
		if i <= 0 {
			return ""
		}
		nevra = nevra[:i]
	}
	return nevra
}

// zypperTable splits zypper's "a | b | c" tables into rows keyed by the
// header's column names, skipping the "--+--" rule and anything that is
// not a table row (notices printed before the table).
func zypperTable(r io.Reader) ([]map[string]string, error) {
	var header []string
	var rows []map[string]string
	sc := newLineScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			continue
		}
		if strings.Trim(line, "-+ ") == "" {
			continue
		}
		row := map[string]string{}
		for i, c := range cells {
			if i < len(header) {
				row[header[i]] = c
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return rows, err
	}
	return rows, nil
}

// ParseZypperListUpdates reads `zypper list-updates`: a table with the
// columns S | Repository | Name | Current Version | Available Version | Arch.
func ParseZypperListUpdates(r io.Reader) ([]wire.PendingUpdate, error) {
	rows, err := zypperTable(r)
	if err != nil {
		return nil, fmt.Errorf("read zypper list-updates: %w", err)
	}
	var out []wire.PendingUpdate
	for _, row := range rows {
		if row["Name"] == "" {
			continue
		}
		out = append(out, wire.PendingUpdate{
			Name:      row["Name"],
			Version:   row["Available Version"],
			Installed: row["Current Version"],
		})
	}
	return out, nil
}

// ParseZypperPatches counts the security patches `zypper list-patches
// --category security` reports as still needed (Status "needed"; patches
// already applied or not relevant have other statuses when listed).
func ParseZypperPatches(r io.Reader) (int, error) {
	rows, err := zypperTable(r)
	if err != nil {
		return 0, fmt.Errorf("read zypper list-patches: %w", err)
	}
	n := 0
	for _, row := range rows {
		if row["Status"] == "needed" && (row["Category"] == "" || row["Category"] == "security") {
			n++
		}
	}
	return n, nil
}
