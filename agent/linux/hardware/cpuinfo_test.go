package hardware

import (
	"bytes"
	"testing"
)

func TestParseCPUInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want cpuInfo
	}{
		{"proc/firecracker-debian12-cpuinfo", cpuInfo{
			Processors: 2, Model: "AMD EPYC", VendorID: "AuthenticAMD",
			Flags: true, Hypervisor: true, LongMode: true, Sockets: 1, Cores: 2,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := parseCPUInfo(bytes.NewReader(readFixture(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVendorName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"AuthenticAMD": "AMD", "GenuineIntel": "Intel", "SomethingNew": "SomethingNew"} {
		if got := vendorName(in); got != want {
			t.Errorf("vendorName(%q): got %q, want %q", in, got, want)
		}
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add(readFixture(f, "proc/firecracker-debian12-cpuinfo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := parseCPUInfo(bytes.NewReader(b))
		if err != nil {
			return
		}
		if ci.Cores > ci.Processors || ci.Sockets > ci.Cores {
			t.Fatalf("got %d sockets, %d cores, %d processors", ci.Sockets, ci.Cores, ci.Processors)
		}
	})
}
