package osinfo

import (
	"strings"
)

// CompareKernelVersions orders kernel release strings ("6.1.0-18-amd64",
// "5.14.0-362.8.1.el9_3.x86_64") by comparing runs of digits as numbers
// and everything else as text, which is how distributions number their
// kernel builds. It returns -1, 0 or 1.
func CompareKernelVersions(a, b string) int {
	for a != "" && b != "" {
		ra, restA := nextRun(a)
		rb, restB := nextRun(b)
		da, db := isDigit(ra[0]), isDigit(rb[0])
		switch {
		case da && db:
			na, nb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			if len(na) != len(nb) {
				return sign(len(na) - len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
		case da != db:
			// A number sorts after text: "6.1.0-21" > "6.1.0-rc".
			if da {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(ra, rb); c != 0 {
				return c
			}
		}
		a, b = restA, restB
	}
	return sign(len(a) - len(b))
}

func nextRun(s string) (run, rest string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// NewestKernel returns the newest of the installed kernel releases, or ""
// when there are none.
func NewestKernel(releases []string) string {
	newest := ""
	for _, r := range releases {
		if newest == "" || CompareKernelVersions(r, newest) > 0 {
			newest = r
		}
	}
	return newest
}

// kernelFromBootImage turns "vmlinuz-6.1.0-18-amd64" into "6.1.0-18-amd64";
// it skips RHEL's rescue image ("vmlinuz-0-rescue-<machine-id>"), which
// is a copy of an older kernel, not a release.
func kernelFromBootImage(name string) string {
	rel, ok := strings.CutPrefix(name, "vmlinuz-")
	if !ok || rel == "" || strings.HasPrefix(rel, "0-rescue") {
		return ""
	}
	return rel
}
