package compliance

import "testing"

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"12", "12", 0},
		{"11", "12", -1},
		{"22.04", "22.10", -1},
		{"24.04", "22.04", 1},
		{"10.0.19042", "10.0.19045", -1},
		{"10.0.22631", "10.0.19045", 1},
		{"10.0.20348", "10.0.17763", 1},
		{"13.3.1", "14", -1},
		{"26.0", "15.7", 1}, // macOS jumped from 15 to 26
		{"10.15.2", "10.9", 1},
		{"1.10", "1.9", 1},
		{"1.0", "1.0.0", -1},
		{"007", "7", 0},
		{"v1.2.3", "1.2.3", 0},
		{"3.0.19-1~deb12u2", "3.0.22-1~deb12u2", -1},
		{"1:2.66-4+deb12u2+b2", "1:2.66-4+deb12u3+b1", -1},
		{"1:1.0", "2.0", 1},    // epoch wins
		{"1.0~rc1", "1.0", -1}, // tilde sorts before the end
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0+", -1}, // letters before other characters
		{"2.17-106.el7_2.6", "2.17-326.el7_9.3", -1},
		{"32:9.11.4-26.P2.el7_9.16", "32:9.11.4-26.P2.el7_9.9", 1},
		{"5.2.15-2+b8", "5.2.15-2+b13", -1},
		{"99999999999999999999999", "99999999999999999999998", 1}, // no overflow
		{"", "1", -1},
		{"", "0", 0}, // as dpkg: an empty part equals zero
		{"", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			t.Parallel()
			if got := CompareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareVersions(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareVersions(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareVersions(%q, %q): got %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestConstraint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c, v string
		want bool
	}{
		{"< 15.0", "14.9", true},
		{"< 15.0", "15.0", false},
		{"<= 15.0", "15.0", true},
		{">2.0", "2.0.1", true},
		{">= 2.0", "1.9", false},
		{"= 1.2.3", "1.2.3", true},
		{"== 1.2.3", "1.2.4", false},
		{"!= 1.2.3", "1.2.4", true},
		{"1.2.3", "1.2.3", true},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.c)
		if err != nil {
			t.Fatalf("ParseConstraint(%q): %v", tt.c, err)
		}
		if got := c.Allows(tt.v); got != tt.want {
			t.Errorf("%q allows %q: got %v, want %v", tt.c, tt.v, got, tt.want)
		}
	}
	for _, bad := range []string{"", "<", ">= ", "1.0 2.0"} {
		if _, err := ParseConstraint(bad); err == nil {
			t.Errorf("ParseConstraint(%q): got no error", bad)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"openssl", "openssl", true},
		{"openssl", "OpenSSL", true},
		{"openssl", "openssl-dev", false},
		{"openssl*", "openssl-dev", true},
		{"*office*", "Microsoft Office Professional Plus 2019", true},
		{"lib?cap2", "libcap2", false},
		{"lib?ap2", "libcap2", true},
		{"libstdc++", "libstdc++", true},
		{"homebrew/*", "homebrew/cask/firefox", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"*", "", true},
		{"?", "", false},
		{"Ünïcode*", "ünïcode app", true},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchPattern(%q, %q): got %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
