package registry

import (
	"path"
	"regexp"
	"testing"
)

// TestGlobRegexp: the regular expression PostgreSQL matches event kinds
// with selects what SQLite's GLOB and webhook filters (path.Match) do.
func TestGlobRegexp(t *testing.T) {
	t.Parallel()
	kinds := append(EventKinds(), "a.b", "a+b", "a(b)", "x[y]", "device.")
	for _, pattern := range []string{"*", "compliance.*", "device.*", "*.changed", "device.software_?dded", "device.[sh]*", "device.[^s]*", "a.b", "a+b", "a(b)", "x[y]", "device.", "[a-c]*"} {
		re := regexp.MustCompile(globRegexp(pattern))
		for _, k := range kinds {
			want, err := path.Match(pattern, k)
			if err != nil {
				t.Fatalf("%q: %v", pattern, err)
			}
			if got := re.MatchString(k); got != want {
				t.Errorf("pattern %q (regexp %q), kind %q: got %v, want %v", pattern, globRegexp(pattern), k, got, want)
			}
		}
	}
}
