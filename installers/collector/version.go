package collector

import (
	"regexp"
	"strings"
)

// Version is a `git describe` result mapped onto both package formats.
type Version struct {
	// Deb is the Debian version (native: no revision), e.g. 1.2.0,
	// 1.2.0~rc1, 0.0.0~git1a2b3c4.
	Deb string
	// RPM and Release are the RPM Version and Release.
	RPM, Release string
}

var (
	tagVersion = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z.]+))?$`)
	// describe of a commit after a tag (v1.2.0-4-g1a2b3c4) or of no tag at all
	// (1a2b3c4), with -dirty for a modified tree.
	gitHash = regexp.MustCompile(`(?:^|-g)([0-9a-f]{7,40})(?:-dirty)?$`)
)

// ParseVersion maps `git describe --tags --always --dirty`: a release tag
// vX.Y.Z[-PRE] gives X.Y.Z[~PRE] (a ~ sorts before the release in dpkg and
// rpm alike); anything else gives 0.0.0~git<hash>, which sorts before every
// release, so a real release always upgrades a development build.
// A dirty tree's build is not marked: its package must not be mistaken for
// a reproducible one, and docs/installers.md says to build releases clean.
func ParseVersion(describe string) Version {
	d := strings.TrimSpace(describe)
	if m := tagVersion.FindStringSubmatch(d); m != nil {
		v := m[1]
		if m[2] != "" {
			v += "~" + m[2]
		}
		return Version{Deb: v, RPM: v, Release: "1"}
	}
	v := "0.0.0~dev"
	if m := gitHash.FindStringSubmatch(d); m != nil {
		v = "0.0.0~git" + m[1]
	}
	return Version{Deb: v, RPM: v, Release: "1"}
}
