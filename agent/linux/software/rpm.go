package software

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RPMQueryFormat is the --queryformat the rpm probe passes. It is the one
// chef/ohai's captured CentOS 7 output used, so the parser is tested on
// real output: name, epoch (0 when none), version, release, install time
// (Unix seconds) and arch, separated by tabs. rpm expands the \t and \n
// escapes itself.
const RPMQueryFormat = `%{NAME}\t%|EPOCH?{%{EPOCH}}:{0}|\t%{VERSION}\t%{RELEASE}\t%{INSTALLTIME}\t%{ARCH}\n`

// RPMPackage is one line of RPMQueryFormat output.
type RPMPackage struct {
	Name        string
	Epoch       string
	Version     string // version-release, with "epoch:" in front when the epoch is not 0
	Arch        string
	InstallTime time.Time
}

// ParseRPMQuery parses `rpm -qa --qf RPMQueryFormat`. Fields are split on
// any run of white space rather than on single tabs: rpm names and
// versions never contain spaces, and some captures (and copy-pastes) have
// the tabs turned into spaces. gpg-pubkey entries are keys rpm keeps in
// its database, not software, and are skipped.
func ParseRPMQuery(r io.Reader) ([]RPMPackage, error) {
	var out []RPMPackage
	sc := newScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[0] == "gpg-pubkey" {
			continue
		}
		p := RPMPackage{Name: f[0], Epoch: f[1], Version: f[2] + "-" + f[3], Arch: f[5]}
		if p.Epoch != "0" && p.Epoch != "" && p.Epoch != "(none)" {
			p.Version = p.Epoch + ":" + p.Version
		}
		if p.Arch == "(none)" {
			p.Arch = ""
		}
		if sec, err := strconv.ParseInt(f[4], 10, 64); err == nil && sec > 0 {
			p.InstallTime = time.Unix(sec, 0).UTC()
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read rpm query: %w", err)
	}
	return out, nil
}
