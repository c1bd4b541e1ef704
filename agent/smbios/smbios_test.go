package smbios

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func readDump(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read dump: %v", err)
	}
	return b
}

// The want values are what dmidecode 3.4 prints for the same dumps
// (testdata/*.dmidecode3.4.txt), so the reader is checked against an
// independent decoder, UUID byte order included.
func TestParseDumpIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		version Version
		nStruct int
		want    Identity
	}{
		{
			file: "lenovo-thinkpad-t490-smbios3.1.bin", version: Version{3, 1, 1}, nStruct: 69,
			want: Identity{
				BIOSVendor: "LENOVO", BIOSVersion: "N2IET92W (1.70 )", BIOSDate: "09/21/2020",
				Manufacturer: "LENOVO", Product: "20N2CTO1WW", Version: "ThinkPad T490", Serial: "PF1NKFHN",
				UUID: "0677d5cc-25b1-11b2-a85c-c66e0b64b3d5",
				SKU:  "LENOVO_MT_20N2_BU_Think_FM_ThinkPad T490", Family: "ThinkPad T490",
				BoardManufacturer: "LENOVO", BoardProduct: "20N2CTO1WW", BoardSerial: "L1HF93508A3", BoardAssetTag: "Not Available",
				ChassisManufacturer: "LENOVO", ChassisType: 10, ChassisSerial: "PF1NKFHN", ChassisAssetTag: "No Asset Information",
			},
		},
		{
			file: "toshiba-satellite-pro-l70-smbios2.7.bin", version: Version{2, 7, 0}, nStruct: 69,
			want: Identity{
				BIOSVendor: "Insyde Corp.", BIOSVersion: "1.60", BIOSDate: "04/18/2014",
				Manufacturer: "TOSHIBA", Product: "SATELLITE PRO L70-A", Version: "PSKNFE-00300FCE", Serial: "XD198915C",
				UUID: "b560f4a0-4048-11e3-8b6a-089e01ee6336",
				SKU:  "PSKNFE", Family: "Type1Family",
				BoardManufacturer: "Type2 - Board Vendor Name1", BoardProduct: "Type2 - Board Product Name1",
				BoardSerial: "Type2 - Board Serial Number", BoardAssetTag: "Type2 - Board Asset Tag",
				ChassisManufacturer: "OEM Chassis Manufacturer", ChassisType: 10,
				ChassisSerial: "OEM Chassis Serial Number", ChassisAssetTag: "No Asset Tag",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			tab, err := ParseDump(readDump(t, tt.file))
			if err != nil {
				t.Fatalf("ParseDump: %v", err)
			}
			if tab.Version != tt.version {
				t.Errorf("version: got %v, want %v", tab.Version, tt.version)
			}
			if len(tab.Structures) != tt.nStruct {
				t.Errorf("structures: got %d, want %d", len(tab.Structures), tt.nStruct)
			}
			got := tab.Identity()
			procs, mem := got.Processors, got.Memory
			got.Processors, got.Memory = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("identity:\n got %+v\nwant %+v", got, tt.want)
			}
			if len(procs) != 1 || procs[0].Cores == 0 || procs[0].Threads < procs[0].Cores {
				t.Errorf("processors: got %+v, want one populated socket with cores and threads", procs)
			}
			if len(mem) != 2 {
				t.Errorf("memory devices: got %d, want 2", len(mem))
			}
		})
	}
}

func TestMemoryAndCPU(t *testing.T) {
	t.Parallel()
	tab, err := ParseDump(readDump(t, "lenovo-thinkpad-t490-smbios3.1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	id := tab.Identity()
	// dmidecode: "Size: 8 GB" and "Size: 32 GB"; "Core Count: 4", "Thread Count: 8".
	if id.Memory[0].SizeBytes != 8<<30 || id.Memory[1].SizeBytes != 32<<30 {
		t.Errorf("memory sizes: got %d and %d, want 8 GiB and 32 GiB", id.Memory[0].SizeBytes, id.Memory[1].SizeBytes)
	}
	if p := id.Processors[0]; p.Version != "Intel(R) Core(TM) i7-8565U CPU @ 1.80GHz" || p.Cores != 4 || p.Threads != 8 {
		t.Errorf("processor: got %+v", p)
	}
}

// The RSMB blob here is built from a real dump by putting the RawSMBIOSData
// header documented for GetSystemFirmwareTable in front of its table; no
// real Windows capture of the blob is in the repository.
func TestParseRSMBFromRealDump(t *testing.T) {
	t.Parallel()
	b := readDump(t, "toshiba-satellite-pro-l70-smbios2.7.bin")
	ep, err := ParseEntryPoint(b)
	if err != nil {
		t.Fatal(err)
	}
	table := b[32 : 32+int(ep.TableLength)]
	blob := RSMB(ep.Version, table)
	if blob[0] != 0 || blob[1] != 2 || blob[2] != 7 || len(blob) != 8+len(table) {
		t.Fatalf("RSMB header: got % x", blob[:8])
	}
	got, err := ParseRSMB(blob)
	if err != nil {
		t.Fatalf("ParseRSMB: %v", err)
	}
	want, _ := ParseDump(b)
	if got.Version != want.Version || len(got.Structures) != len(want.Structures) {
		t.Fatalf("got version %v with %d structures, want %v with %d", got.Version, len(got.Structures), want.Version, len(want.Structures))
	}
	if g, w := got.Identity().Serial, want.Identity().Serial; g != w {
		t.Errorf("serial: got %q, want %q", g, w)
	}

	// A header claiming more than follows is an error, not a short read.
	if _, err := ParseRSMB(blob[:len(blob)-10]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated blob: got %v, want ErrTruncated", err)
	}
	if _, err := ParseRSMB(blob[:5]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short header: got %v, want ErrTruncated", err)
	}
}

// Linux gives the entry point and the table as two files; the dumps hold
// both, so split them the way the kernel would.
func TestParseLinux(t *testing.T) {
	t.Parallel()
	b := readDump(t, "lenovo-thinkpad-t490-smbios3.1.bin")
	tab, err := ParseLinux(b[:24], b[32:])
	if err != nil {
		t.Fatalf("ParseLinux: %v", err)
	}
	if id := tab.Identity(); id.Serial != "PF1NKFHN" || id.UUID != "0677d5cc-25b1-11b2-a85c-c66e0b64b3d5" {
		t.Errorf("got serial %q uuid %q", id.Serial, id.UUID)
	}
	if _, err := ParseLinux([]byte("garbage"), b[32:]); !errors.Is(err, ErrNoEntryPoint) {
		t.Errorf("bad entry point: got %v, want ErrNoEntryPoint", err)
	}
}

func TestParseTableTruncated(t *testing.T) {
	t.Parallel()
	b := readDump(t, "lenovo-thinkpad-t490-smbios3.1.bin")[32:]
	tab, err := ParseTable(b[:200], Version{3, 1, 1})
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if len(tab.Structures) == 0 {
		t.Error("the structures before the cut should be kept")
	}
}

func TestFormatUUID(t *testing.T) {
	t.Parallel()
	raw := []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	if got, want := FormatUUID(raw, Version{2, 6, 0}), "03020100-0504-0706-0809-0a0b0c0d0e0f"; got != want {
		t.Errorf("2.6: got %s, want %s", got, want)
	}
	if got, want := FormatUUID(raw, Version{2, 5, 0}), "00010203-0405-0607-0809-0a0b0c0d0e0f"; got != want {
		t.Errorf("2.5: got %s, want %s", got, want)
	}
}

// Fuzz targets: every parser takes untrusted bytes (a captured host, the
// firmware) and must never panic.
func FuzzParseDump(f *testing.F) {
	for _, n := range []string{"lenovo-thinkpad-t490-smbios3.1.bin", "toshiba-satellite-pro-l70-smbios2.7.bin"} {
		f.Add(readDump(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tab, err := ParseDump(b); err == nil {
			tab.Identity()
		}
	})
}

func FuzzParseRSMB(f *testing.F) {
	b := readDump(f, "toshiba-satellite-pro-l70-smbios2.7.bin")
	f.Add(RSMB(Version{2, 7, 0}, b[32:]))
	f.Add(readDump(f, "wine8-debian12-firecracker-rsmb.bin"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tab, err := ParseRSMB(b); err == nil {
			tab.Identity()
		}
	})
}

// A real RSMB blob, as Wine 8 writes it (see SOURCES.md): the header's
// version and length, and the table behind it.
func TestParseRSMBWine(t *testing.T) {
	t.Parallel()
	b := readDump(t, "wine8-debian12-firecracker-rsmb.bin")
	tab, err := ParseRSMB(b)
	if err != nil {
		t.Fatalf("ParseRSMB: %v", err)
	}
	if tab.Version != (Version{2, 4, 0}) || len(b) != 8+123 {
		t.Errorf("got version %v, %d bytes", tab.Version, len(b))
	}
	id := tab.Identity()
	// SMBIOS 2.4: the UUID bytes are printed in table order.
	if id.UUID != "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4" || id.ChassisType != 2 || id.Serial != "" {
		t.Errorf("got %+v", id)
	}
	if last := tab.Structures[len(tab.Structures)-1]; last.Type != 127 {
		t.Errorf("last structure type %d, want the end-of-table 127", last.Type)
	}
}
