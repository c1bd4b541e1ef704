package osinfo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// OSRelease is what /etc/os-release says about the distribution.
type OSRelease struct {
	Name       string
	PrettyName string
	ID         string
	IDLike     string
	Version    string // VERSION, e.g. "12 (bookworm)"
	VersionID  string // VERSION_ID, e.g. "12"
	Codename   string // VERSION_CODENAME, else UBUNTU_CODENAME, else from VERSION
	BuildID    string
	Variant    string
	// Fields holds every key as read, for callers that need more.
	Fields map[string]string
}

// ParseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted with shell-style escapes, # comments and blank lines ignored.
// Lines that are not assignments are skipped rather than rejected, as
// systemd itself does, so one odd line does not lose the distribution.
func ParseOSRelease(r io.Reader) (OSRelease, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		if key == "" || strings.ContainsAny(key, " \t") {
			continue
		}
		fields[key] = unquoteOSRelease(strings.TrimSpace(val))
	}
	if err := sc.Err(); err != nil {
		return OSRelease{}, fmt.Errorf("read os-release: %w", err)
	}
	o := OSRelease{
		Name:       fields["NAME"],
		PrettyName: fields["PRETTY_NAME"],
		ID:         fields["ID"],
		IDLike:     fields["ID_LIKE"],
		Version:    fields["VERSION"],
		VersionID:  fields["VERSION_ID"],
		Codename:   fields["VERSION_CODENAME"],
		BuildID:    fields["BUILD_ID"],
		Variant:    fields["VARIANT"],
		Fields:     fields,
	}
	if o.Codename == "" {
		o.Codename = fields["UBUNTU_CODENAME"]
	}
	_, hasCodename := fields["VERSION_CODENAME"]
	if o.Codename == "" && !hasCodename {
		// Only when the key is absent: Fedora writes VERSION_CODENAME=""
		// and puts its variant, not a codename, in VERSION's parentheses.
		if c := codenameFromVersion(o.Version); c != o.Variant {
			o.Codename = c
		}
	}
	return o, nil
}

// unquoteOSRelease removes one level of single or double quotes and the
// backslash escapes os-release(5) allows inside double quotes.
func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

// codenameFromVersion takes the release name out of VERSION for
// distributions that predate VERSION_CODENAME: Debian "9 (stretch)",
// RHEL "9.0 (Plow)", CentOS "7 (Core)". It is returned as written.
func codenameFromVersion(v string) string {
	open := strings.IndexByte(v, '(')
	end := strings.LastIndexByte(v, ')')
	if open < 0 || end <= open {
		return ""
	}
	return strings.TrimSpace(v[open+1 : end])
}
