package windows

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/shared/wire"
)

func TestParseBitLockerVolumesFleetCapture(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/get-bitlockervolume/fleet-win-vm-two-volumes.json")
	if err != nil {
		t.Fatal(err)
	}
	vols, err := ParseBitLockerVolumes(b)
	if err != nil {
		t.Fatal(err)
	}
	hundred, zero := 100.0, 0.0
	want := []BitLockerVolume{
		{MountPoint: "C:", VolumeType: "OperatingSystem", VolumeStatus: "FullyEncrypted", ProtectionStatus: "On",
			LockStatus: "Unlocked", EncryptionMethod: "XtsAes128", EncryptionPercentage: &hundred,
			KeyProtectors: []string{"NumericalPassword", "Tpm"}},
		{MountPoint: "E:", VolumeType: "Data", VolumeStatus: "FullyDecrypted", ProtectionStatus: "Off",
			LockStatus: "Unlocked", EncryptionMethod: "None", EncryptionPercentage: &zero},
	}
	if diff := cmp.Diff(want, vols); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	wantWire := []wire.Volume{
		{MountPoint: "C:", Encrypted: wire.Yes, Scheme: wire.SchemeBitLocker, Status: wire.StateOn,
			Cipher: "XTS-AES 128", PercentEncrypted: &hundred, System: true},
		{MountPoint: "E:", Encrypted: wire.No, Status: wire.StateOff},
	}
	for i, v := range vols {
		if diff := cmp.Diff(wantWire[i], v.BDE().Wire()); diff != "" {
			t.Errorf("volume %s wire (-want +got):\n%s", v.MountPoint, diff)
		}
	}
}

// TestParseBitLockerVolumesShapes covers the shapes the cmdlet writes that
// the capture does not show: one volume is an object, not an array; enums
// as names (PowerShell 7 -EnumsAsStrings); KeyProtector as the agent
// selects it (type numbers only). The JSON is written from the
// documented enums, not captured.
func TestParseBitLockerVolumesShapes(t *testing.T) {
	t.Parallel()
	half := 42.5
	tests := []struct {
		name string
		in   string
		want []BitLockerVolume
		wire wire.Volume
	}{
		{
			name: "single object, agent's selection",
			in:   `{"MountPoint":"C:","VolumeType":0,"VolumeStatus":2,"ProtectionStatus":0,"LockStatus":0,"EncryptionMethod":7,"EncryptionPercentage":42.5,"KeyProtector":[1,3]}`,
			want: []BitLockerVolume{{MountPoint: "C:", VolumeType: "OperatingSystem", VolumeStatus: "EncryptionInProgress",
				ProtectionStatus: "Off", LockStatus: "Unlocked", EncryptionMethod: "XtsAes256", EncryptionPercentage: &half,
				KeyProtectors: []string{"Tpm", "NumericalPassword"}}},
			wire: wire.Volume{MountPoint: "C:", Encrypted: wire.No, Scheme: wire.SchemeBitLocker, Status: wire.StateEncrypting,
				Reason: "encryption in progress (42.5% encrypted)", Cipher: "XTS-AES 256", PercentEncrypted: &half, System: true},
		},
		{
			name: "enums as strings, suspended",
			in:   `[{"MountPoint":"D:\\","VolumeType":"Data","VolumeStatus":"FullyEncrypted","ProtectionStatus":"Off","LockStatus":"Unlocked","EncryptionMethod":"Aes256","EncryptionPercentage":100,"KeyProtector":[{"KeyProtectorType":"ExternalKey"}]}]`,
			want: []BitLockerVolume{{MountPoint: `D:\`, VolumeType: "Data", VolumeStatus: "FullyEncrypted",
				ProtectionStatus: "Off", LockStatus: "Unlocked", EncryptionMethod: "Aes256", EncryptionPercentage: new(100.0),
				KeyProtectors: []string{"ExternalKey"}}},
			wire: wire.Volume{MountPoint: "D:", Encrypted: wire.Yes, Scheme: wire.SchemeBitLocker, Status: wire.StateSuspended,
				Reason: "BitLocker protection is off (suspended): the volume key is stored unprotected on the disk",
				Cipher: "AES 256", PercentEncrypted: new(100.0)},
		},
		{
			name: "locked data volume, unknown protection",
			in:   `[{"MountPoint":"F:","VolumeType":1,"VolumeStatus":null,"ProtectionStatus":2,"LockStatus":1,"EncryptionMethod":null,"EncryptionPercentage":null,"KeyProtector":null}]`,
			want: []BitLockerVolume{{MountPoint: "F:", VolumeType: "Data", ProtectionStatus: "Unknown", LockStatus: "Locked"}},
			wire: wire.Volume{MountPoint: "F:", Encrypted: wire.Yes, Scheme: wire.SchemeBitLocker, Status: wire.StateOn,
				Reason: `volume is locked: conversion status missing`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseBitLockerVolumes([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wire, got[0].BDE().Wire()); diff != "" {
				t.Errorf("wire (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBitLockerVolumesErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`[{"MountPoint":3}]`, `[{"VolumeStatus":true}]`, `{"KeyProtector":[{"KeyProtectorType":[]}]}`, `not json`} {
		if _, err := ParseBitLockerVolumes([]byte(in)); err == nil {
			t.Errorf("ParseBitLockerVolumes(%s): no error", in)
		}
	}
	if v, err := ParseBitLockerVolumes(nil); err != nil || v != nil {
		t.Errorf("empty output: got %v, %v; want nothing", v, err)
	}
}

func FuzzParseBitLockerVolumes(f *testing.F) {
	files, _ := filepath.Glob("testdata/get-bitlockervolume/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"MountPoint":"C:","VolumeType":0,"VolumeStatus":2,"KeyProtector":[1,3]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vols, err := ParseBitLockerVolumes(b)
		if err != nil {
			return
		}
		for _, v := range vols {
			_ = v.BDE().Wire()
		}
	})
}
