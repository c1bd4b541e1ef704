package debversion

import "testing"

func TestCompare(t *testing.T) {
	t.Parallel()
	// Orderings from deb-version(7) and from versions on this machine.
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0-0", 0},
		{"1.0a", "1.0", 1},
		{"1.0+", "1.0a", 1},
		{"1:0.1", "9.9", 1},
		{"01:1.0", "1:1.0", 0},
		{"10", "9", 1},
		{"1.2.8-1", "1.2.1", 1},
		{"5.2.15-2+b13", "5.2.15-2+b8", 1},
		{"252.39-1~deb12u2", "252.38-1~deb12u1", 1},
		{"12.4+deb12u14", "12.4+deb12u11", 1},
		{"1:2.66-4+deb12u3+b1", "1:2.66-4+deb12u2+b2", 1},
		{"17.0.19+10-1~deb12u2", "17.0.15+6-1~deb12u1", 1},
		{"2.6.0-1+deb12u1", "2.6.0-1", 1},
		{"20.20.2-1nodesource1+repack1", "18.19.0+dfsg-6~deb12u2", 1},
		{"1.0-1", "1.0-1~bpo1", 1},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Compare(tc.b, tc.a); got != -tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("1:2.66-4+deb12u3+b1", "1:2.66-4+deb12u2+b2")
	f.Add("1.0~rc1", "1.0")
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := Compare(a, b), Compare(b, a); x != -y {
			t.Errorf("Compare(%q, %q) = %d but reversed %d", a, b, x, y)
		}
	})
}
