package hardware

import (
	"bytes"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	t.Parallel()
	got, err := parseMeminfo(bytes.NewReader(readFixture(t, "proc/firecracker-debian12-meminfo")))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]uint64{
		"MemTotal":        24684092 * 1024,
		"MemFree":         24292580 * 1024,
		"HugePages_Total": 0,
		"Hugepagesize":    2048 * 1024,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s: got %d, want %d", key, got[key], want)
		}
	}
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add(readFixture(f, "proc/firecracker-debian12-meminfo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseMeminfo(bytes.NewReader(b))
	})
}
