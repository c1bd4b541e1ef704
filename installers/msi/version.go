package msi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// describeRe matches what `git describe --tags --always --dirty` prints
// once a tag exists: v1.2.3, v1.2.3-4-gabc1234, v1.2-dirty, v1.2.3-rc1.
// A pre-release suffix is dropped: 1.2.3-rc1 installs as 1.2.3, which the
// release then replaces (same-version upgrade) rather than being refused
// as a downgrade.
var (
	describeRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+.~][0-9A-Za-z.+~-]*)?$`)
	sinceTagRe = regexp.MustCompile(`-(\d+)-g[0-9a-f]{4,}(?:-dirty)?$`)
)

// ProductVersion maps a `git describe` string to an MSI ProductVersion,
// which must be major.minor.build with major and minor at most 255 and
// build at most 65535. Windows Installer compares only these three fields,
// so commits since the tag go in a fourth field, kept for people and
// ignored by upgrades (the package allows same-version upgrades instead).
// A describe without a tag (a bare hash, "dev") becomes 0.0.<commits>,
// commits being `git rev-list --count HEAD`, so untagged builds still
// order by history.
func ProductVersion(describe string, commits int) (string, error) {
	describe = strings.TrimSpace(describe)
	m := describeRe.FindStringSubmatch(describe)
	if m == nil {
		if commits < 0 || commits > 65535 {
			return "", fmt.Errorf("product version for %q: commit count %d out of 0..65535", describe, commits)
		}
		return "0.0." + strconv.Itoa(commits), nil
	}
	limits := []int{255, 255, 65535, 65535}
	names := []string{"major", "minor", "build", "commits since the tag"}
	var fields []string
	since := ""
	if t := sinceTagRe.FindStringSubmatch(describe); t != nil {
		since = t[1]
	}
	for i, s := range append(m[1:4], since) {
		if s == "" {
			if i == 2 {
				s = "0"
			} else {
				continue
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil || n > limits[i] {
			return "", fmt.Errorf("product version for %q: %s %s exceeds %d", describe, names[i], s, limits[i])
		}
		fields = append(fields, strconv.Itoa(n))
	}
	return strings.Join(fields, "."), nil
}
