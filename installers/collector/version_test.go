package collector

import "testing"

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		describe string
		want     Version
	}{
		{"v1.2.0", Version{"1.2.0", "1.2.0", "1"}},
		{"1.2.0\n", Version{"1.2.0", "1.2.0", "1"}},
		{"v1.2.0-rc.1", Version{"1.2.0~rc.1", "1.2.0~rc.1", "1"}},
		{"v1.2.0-4-g1a2b3c4", Version{"0.0.0~git1a2b3c4", "0.0.0~git1a2b3c4", "1"}},
		{"v1.2.0-4-g1a2b3c4-dirty", Version{"0.0.0~git1a2b3c4", "0.0.0~git1a2b3c4", "1"}},
		{"c2b1e6f", Version{"0.0.0~gitc2b1e6f", "0.0.0~gitc2b1e6f", "1"}},
		{"c2b1e6f-dirty", Version{"0.0.0~gitc2b1e6f", "0.0.0~gitc2b1e6f", "1"}},
		{"dev", Version{"0.0.0~dev", "0.0.0~dev", "1"}},
	} {
		if got := ParseVersion(tc.describe); got != tc.want {
			t.Errorf("ParseVersion(%q) = %+v, want %+v", tc.describe, got, tc.want)
		}
	}
}
