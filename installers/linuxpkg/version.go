package linuxpkg

import (
	"fmt"
	"regexp"
	"strings"
)

// Versions are one build's version in each format's syntax.
type Versions struct {
	// Deb is the whole Debian version (no revision: the package is
	// built from this repository, a native package).
	Deb string
	// RPMVersion and RPMRelease are RPM's Version and Release.
	RPMVersion, RPMRelease string
}

var (
	// v1.2.3, v1.2.3-rc.1, then git describe's -N-gHASH and -dirty.
	tagged = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+?))??(?:-(\d+)-g([0-9a-f]{4,40}))?(-dirty)?$`)
	// describe --always without a tag: the abbreviated hash.
	bare = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
)

// ParseVersion maps `git describe --tags --always --dirty` output to
// versions dpkg and rpm order correctly:
//
//	v1.2.3              deb 1.2.3                 rpm 1.2.3-1
//	v1.2.3-rc.1         deb 1.2.3~rc.1            rpm 1.2.3~rc.1-1
//	v1.2.3-4-gabc1234   deb 1.2.3+git4.abc1234    rpm 1.2.3-1.git4.abc1234
//	abc1234             deb 0.0.0~gitabc1234      rpm 0.0.0-0.gitabc1234
//
// and -dirty appends .dirty to each. "~" sorts before the release in
// both, "+" and a longer release after it, so a build N commits past a
// tag upgrades the tag's package; an untagged build (a hash only) sorts
// below every release, and two untagged builds have no order (dpkg -i and
// rpm -U --oldpackage still replace one by the other).
func ParseVersion(describe string) (Versions, error) {
	describe = strings.TrimSpace(describe)
	if m := bare.FindStringSubmatch(describe); m != nil {
		v := Versions{Deb: "0.0.0~git" + m[1], RPMVersion: "0.0.0", RPMRelease: "0.git" + m[1]}
		if m[2] != "" {
			v.Deb += ".dirty"
			v.RPMRelease += ".dirty"
		}
		return v, nil
	}
	m := tagged.FindStringSubmatch(describe)
	if m == nil {
		return Versions{}, fmt.Errorf("version %q is not git describe output (vX.Y.Z[-PRE][-N-gHASH][-dirty] or a commit hash)", describe)
	}
	base, pre, n, hash, dirty := m[1], m[2], m[3], m[4], m[5] != ""
	v := Versions{Deb: base, RPMVersion: base, RPMRelease: "1"}
	if pre != "" {
		v.Deb += "~" + pre
		v.RPMVersion += "~" + pre
	}
	if n != "" {
		v.Deb += "+git" + n + "." + hash
		v.RPMRelease += ".git" + n + "." + hash
	}
	if dirty {
		if n == "" {
			v.Deb += "+dirty"
		} else {
			v.Deb += ".dirty"
		}
		v.RPMRelease += ".dirty"
	}
	return v, nil
}
