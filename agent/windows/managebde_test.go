package windows

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

func TestParseManageBDE(t *testing.T) {
	t.Parallel()
	// The example printed in Microsoft's BitLocker operations guide.
	vols := ParseManageBDE(DecodeOutput(readFixture(t, "manage-bde/win-doc-operations-guide-manage-bde-status.txt"), ""))
	hundred := 100.0
	want := []BDEVolume{{
		Volume: "C:", Label: "Local Disk", OSVolume: true, VolumeType: "OS Volume",
		Size: "1000 GB", BitLockerVersion: "2.0", ConversionStatus: "Used Space Only Encrypted",
		PercentageEncrypted: &hundred, EncryptionMethod: "XTS-AES 128",
		ProtectionStatus: "Protection On", LockStatus: "Unlocked",
		KeyProtectors: []string{"TPM", "Numerical Password"},
	}}
	if diff := cmp.Diff(want, vols); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	wantWire := wire.Volume{
		MountPoint: "C:", Encrypted: wire.Yes, Scheme: wire.SchemeBitLocker, Status: wire.StateOn,
		Reason: "only used space is encrypted", Cipher: "XTS-AES 128", PercentEncrypted: &hundred, System: true,
	}
	if diff := cmp.Diff(wantWire, vols[0].Wire()); diff != "" {
		t.Errorf("wire (-want +got):\n%s", diff)
	}
}

// TestBDEVolumeWire covers the status combinations the documentation
// example does not show. The inputs are the field values manage-bde
// prints (Win32_EncryptableVolume's conversion states), not output text.
func TestBDEVolumeWire(t *testing.T) {
	t.Parallel()
	half := 42.5
	tests := []struct {
		name       string
		in         BDEVolume
		encrypted  wire.Tri
		status     string
		wantReason bool
	}{
		{"decrypted", BDEVolume{ConversionStatus: "Fully Decrypted", ProtectionStatus: "Protection Off"}, wire.No, wire.StateOff, false},
		{"encrypted", BDEVolume{ConversionStatus: "Fully Encrypted", ProtectionStatus: "Protection On"}, wire.Yes, wire.StateOn, false},
		{"suspended", BDEVolume{ConversionStatus: "Fully Encrypted", ProtectionStatus: "Protection Off"}, wire.Yes, wire.StateSuspended, true},
		{"encrypting", BDEVolume{ConversionStatus: "Encryption in Progress", PercentageEncrypted: &half}, wire.No, wire.StateEncrypting, true},
		{"decrypting", BDEVolume{ConversionStatus: "Decryption in Progress", PercentageEncrypted: &half}, wire.No, wire.StateDecrypting, true},
		{"locked", BDEVolume{ConversionStatus: "Unknown", ProtectionStatus: "Unknown", LockStatus: "Locked"}, wire.Yes, wire.StateOn, true},
		{"not understood", BDEVolume{ConversionStatus: "Vollständig verschlüsselt"}, wire.Unknown, wire.StateUnknown, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in.Wire()
			if got.Encrypted != tt.encrypted || got.Status != tt.status || (got.Reason != "") != tt.wantReason {
				t.Errorf("got %s/%s reason %q, want %s/%s reason %v", got.Encrypted, got.Status, got.Reason, tt.encrypted, tt.status, tt.wantReason)
			}
		})
	}
}

func FuzzParseManageBDE(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "manage-bde", "*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range ParseManageBDE(DecodeOutput(b, "")) {
			_ = v.Wire()
		}
	})
}
