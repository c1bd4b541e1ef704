package hardware

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

// smbiosDumps is where the real SMBIOS dumps live (see SOURCES.md there).
const smbiosDumps = "../../smbios/testdata"

// tableTree lays a real `dmidecode --dump-bin` file out the way Linux
// exports the same table: the entry point (24 bytes for _SM3_, 31 for
// _SM_) in smbios_entry_point and the table from offset 32 in DMI.
func tableTree(t *testing.T, dir, dump string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(smbiosDumps, dump))
	if err != nil {
		t.Fatal(err)
	}
	epLen := 31
	if bytes.HasPrefix(b, []byte("_SM3_")) {
		epLen = 24
	}
	d := filepath.Join(dir, "sys/firmware/dmi/tables")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "smbios_entry_point"), b[:epLen], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "DMI"), b[32:], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProbeSMBIOSTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dump        string
		want        wire.Hardware
		unknownKeys []string
	}{
		{
			dump: "lenovo-thinkpad-t490-smbios3.1.bin",
			want: wire.Hardware{
				// Lenovo: marketing model from System Version.
				Vendor: "LENOVO", Model: "ThinkPad T490",
				SystemSerial: "PF1NKFHN", SystemUUID: "0677d5cc-25b1-11b2-a85c-c66e0b64b3d5",
				BoardSerial: "L1HF93508A3", ChassisType: "Notebook", FormFactor: "laptop",
				BIOSVendor: "LENOVO", BIOSVersion: "N2IET92W (1.70 )", BIOSDate: "09/21/2020",
			},
			unknownKeys: []string{"asset_tag"},
		},
		{
			dump: "toshiba-satellite-pro-l70-smbios2.7.bin",
			want: wire.Hardware{
				Vendor: "TOSHIBA", Model: "SATELLITE PRO L70-A",
				SystemSerial: "XD198915C", SystemUUID: "b560f4a0-4048-11e3-8b6a-089e01ee6336",
				ChassisType: "Notebook", FormFactor: "laptop",
				BIOSVendor: "Insyde Corp.", BIOSVersion: "1.60", BIOSDate: "04/18/2014",
			},
			unknownKeys: []string{"asset_tag", "board_serial"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.dump, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tableTree(t, dir, tt.dump)
			hw, _ := runProbe(t, captured(t, dir))
			got := wire.Hardware{
				Vendor: hw.Vendor, Model: hw.Model, SystemSerial: hw.SystemSerial, SystemUUID: hw.SystemUUID,
				BoardSerial: hw.BoardSerial, ChassisType: hw.ChassisType, FormFactor: hw.FormFactor,
				AssetTag: hw.AssetTag, BIOSVendor: hw.BIOSVendor, BIOSVersion: hw.BIOSVersion, BIOSDate: hw.BIOSDate,
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			for _, k := range tt.unknownKeys {
				r := hw.Unknown[k]
				// The table's own placeholder is the answer: no fallback
				// source is asked, so no dmidecode or sysfs in the reason.
				if !strings.HasPrefix(r, "SMBIOS table holds placeholder") || strings.Contains(r, "dmidecode") {
					t.Errorf("%s: got reason %q, want the table's placeholder alone", k, r)
				}
			}
			for k, r := range hw.Unknown {
				if strings.HasPrefix(k, "_") {
					t.Errorf("internal field %s leaked into Unknown: %q", k, r)
				}
			}
		})
	}
}

// dmidecode 2.2's layout on a real capture yields the identity it holds.
func TestProbeDmidecode2x(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dmidecodeOutput(t, dir, "award-2003-dmidecode2.2-spaces.txt")
	hw, _ := runProbe(t, captured(t, dir))
	if hw.Vendor != "MICRO-STAR INTERNATIONAL CO., LTD" || hw.Model != "MS-6754" || hw.BIOSVendor != "Award Software International, Inc." || hw.BIOSDate != "01/03/2003" {
		t.Errorf("got vendor %q model %q bios %q %q", hw.Vendor, hw.Model, hw.BIOSVendor, hw.BIOSDate)
	}
	// The firmware left serial and UUID empty ("Not Present"): unknown,
	// with dmidecode's placeholder as the reason.
	for _, f := range []string{"system_serial", "system_uuid", "board_serial"} {
		if !strings.Contains(hw.Unknown[f], "dmidecode") {
			t.Errorf("%s: got reason %q", f, hw.Unknown[f])
		}
	}
}
