package linuxpkg

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Versions
	}{
		{"v1.2.3", Versions{"1.2.3", "1.2.3", "1"}},
		{"1.2.3", Versions{"1.2.3", "1.2.3", "1"}},
		{"v1.2.3-rc.1", Versions{"1.2.3~rc.1", "1.2.3~rc.1", "1"}},
		{"v1.2.3-4-gabc1234", Versions{"1.2.3+git4.abc1234", "1.2.3", "1.git4.abc1234"}},
		{"v1.2.3-rc1-4-gabc1234-dirty", Versions{"1.2.3~rc1+git4.abc1234.dirty", "1.2.3~rc1", "1.git4.abc1234.dirty"}},
		{"v1.2.3-dirty", Versions{"1.2.3+dirty", "1.2.3", "1.dirty"}},
		{"e531214", Versions{"0.0.0~gite531214", "0.0.0", "0.gite531214"}},
		{"e531214-dirty", Versions{"0.0.0~gite531214.dirty", "0.0.0", "0.gite531214.dirty"}},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2", "main", "v1.2.3 rm -rf", "1.2.3-4-gXYZ"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", bad, v)
		}
	}
}

// TestVersionOrder asks dpkg itself that the mapping orders builds as
// git does.
func TestVersionOrder(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	order := []string{"e531214", "v0.9.0-rc.1", "v0.9.0", "v0.9.0-1-gaaaaaaa", "v0.9.0-2-gbbbbbbb", "v0.9.1"}
	for i := 1; i < len(order); i++ {
		a, _ := ParseVersion(order[i-1])
		b, _ := ParseVersion(order[i])
		if err := exec.Command("dpkg", "--compare-versions", a.Deb, "lt", b.Deb).Run(); err != nil {
			t.Errorf("dpkg: %s (%s) is not below %s (%s)", a.Deb, order[i-1], b.Deb, order[i])
		}
		if _, err := exec.LookPath("rpm"); err != nil {
			continue
		}
		// rpm.vercmp compares version-release strings as rpm does.
		expr := fmt.Sprintf(`%%{lua: print(rpm.vercmp("%s-%s", "%s-%s"))}`, a.RPMVersion, a.RPMRelease, b.RPMVersion, b.RPMRelease)
		out, err := exec.Command("rpm", "--eval", expr).Output()
		if err != nil || strings.TrimSpace(string(out)) != "-1" {
			t.Errorf("rpm: %s-%s is not below %s-%s (%q, %v)", a.RPMVersion, a.RPMRelease, b.RPMVersion, b.RPMRelease, out, err)
		}
	}
}
