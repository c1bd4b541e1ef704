package windows

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/smbios"
	"github.com/rosterhq/roster/shared/wire"
)

// rsmbFromDump builds the blob GetSystemFirmwareTable('RSMB') returns from
// a real `dmidecode --dump-bin` file (agent/smbios/testdata, sources
// there) by putting the documented RawSMBIOSData header (calling method,
// major, minor, DMI revision, table length) in front of its table. No
// real Windows capture of the blob is in the repository.
func rsmbFromDump(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "smbios", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := smbios.ParseEntryPoint(b)
	if err != nil {
		t.Fatal(err)
	}
	table := b[32:]
	if !ep.Is64 {
		table = table[:ep.TableLength]
	}
	return smbios.RSMB(ep.Version, table)
}

// capturedRSMB is a captured Windows host holding only the RSMB blob.
func capturedRSMB(t *testing.T, blob []byte) *host.Host {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, filepath.FromSlash(SMBIOSFile))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.Captured("windows", dir)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSMBIOSProbeOnCapturedRSMB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dump    string
		want    wire.Hardware
		unknown []string
	}{
		{
			dump: "lenovo-thinkpad-t490-smbios3.1.bin",
			want: wire.Hardware{
				Vendor: "LENOVO", Model: "ThinkPad T490",
				SystemSerial: "PF1NKFHN", SystemUUID: "0677d5cc-25b1-11b2-a85c-c66e0b64b3d5",
				BoardSerial: "L1HF93508A3", ChassisType: "Notebook", FormFactor: "laptop",
				BIOSVendor: "LENOVO", BIOSVersion: "N2IET92W (1.70 )", BIOSDate: "09/21/2020",
			},
			unknown: []string{"asset_tag"},
		},
		{
			dump: "toshiba-satellite-pro-l70-smbios2.7.bin",
			want: wire.Hardware{
				Vendor: "TOSHIBA", Model: "SATELLITE PRO L70-A",
				SystemSerial: "XD198915C", SystemUUID: "b560f4a0-4048-11e3-8b6a-089e01ee6336",
				ChassisType: "Notebook", FormFactor: "laptop",
				BIOSVendor: "Insyde Corp.", BIOSVersion: "1.60", BIOSDate: "04/18/2014",
			},
			unknown: []string{"asset_tag", "board_serial"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.dump, func(t *testing.T) {
			t.Parallel()
			h := capturedRSMB(t, rsmbFromDump(t, tt.dump))
			var s wire.Snapshot
			if err := collectSMBIOS(context.Background(), h, &s); err != nil {
				t.Fatalf("collectSMBIOS: %v", err)
			}
			got := *s.Hardware
			unknown := got.Unknown
			got.Unknown = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hardware (-want +got):\n%s", diff)
			}
			if len(unknown) != len(tt.unknown) {
				t.Errorf("unknown: got %v, want keys %v", unknown, tt.unknown)
			}
			for _, k := range tt.unknown {
				if !strings.HasPrefix(unknown[k], "SMBIOS table holds placeholder") {
					t.Errorf("%s: got reason %q", k, unknown[k])
				}
			}
		})
	}
}

func TestSMBIOSProbeWithoutCapture(t *testing.T) {
	t.Parallel()
	h, err := host.Captured("windows", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var s wire.Snapshot
	err = collectSMBIOS(context.Background(), h, &s)
	if err == nil || !strings.Contains(err.Error(), "not applicable") {
		t.Fatalf("got %v, want not applicable", err)
	}
	for _, f := range smbiosFields {
		if !strings.Contains(s.Hardware.Unknown[f], SMBIOSFile) {
			t.Errorf("%s: got reason %q, want it to name %s", f, s.Hardware.Unknown[f], SMBIOSFile)
		}
	}
}

func TestSMBIOSProbeBadBlob(t *testing.T) {
	t.Parallel()
	blob := rsmbFromDump(t, "toshiba-satellite-pro-l70-smbios2.7.bin")
	h := capturedRSMB(t, blob[:100])
	var s wire.Snapshot
	err := collectSMBIOS(context.Background(), h, &s)
	if err == nil || !strings.Contains(err.Error(), "parse "+SMBIOSFile) {
		t.Fatalf("got %v, want a parse error naming the file", err)
	}
	if r := s.Hardware.Unknown["system_serial"]; !strings.HasPrefix(r, "SMBIOS table not understood") {
		t.Errorf("got reason %q", r)
	}
}

// TestSMBIOSReplayOfWineCapture replays the RSMB blob the real
// windows/amd64 binary captured while running live under Wine on the build
// machine (agent/smbios/testdata/SOURCES.md) and checks the replay gives
// what the live run printed.
func TestSMBIOSReplayOfWineCapture(t *testing.T) {
	t.Parallel()
	blob, err := os.ReadFile("../smbios/testdata/wine8-debian12-firecracker-rsmb.bin")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../smbios/testdata/wine8-debian12-firecracker-live-snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var live wire.Snapshot
	if err := json.Unmarshal(b, &live); err != nil {
		t.Fatal(err)
	}
	var s wire.Snapshot
	if err := collectSMBIOS(context.Background(), capturedRSMB(t, blob), &s); err != nil {
		t.Fatalf("collectSMBIOS: %v", err)
	}
	if diff := cmp.Diff(live.Hardware, s.Hardware); diff != "" {
		t.Errorf("hardware (-live +replay):\n%s", diff)
	}
	if s.Hardware.SystemUUID != "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4" || s.Hardware.ChassisType != "Unknown" {
		t.Errorf("got uuid %q chassis %q", s.Hardware.SystemUUID, s.Hardware.ChassisType)
	}
}
