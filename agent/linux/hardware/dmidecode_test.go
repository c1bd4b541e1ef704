package hardware

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDmidecode(t *testing.T) {
	t.Parallel()
	// The HP capture has 110 titles, but without Handle lines an empty
	// structure (its one "Management Device Threshold Data" with no
	// properties) cannot be told from banner text, so it is dropped.
	tests := []struct {
		file        string
		records     int
		firstHandle string
		firstType   int
		memDevices  int
		biosList    string // one line of BIOS Characteristics
	}{
		{"hp-z420-workstation-dmidecode.txt", 109, "", -1, 8, "UEFI is supported"},
		{"ubuntu-18.04-vmware-dmidecode.txt", 620, "0x0000", 0, 128, "Smart battery is supported"},
		{"virtualbox-vm-dmidecode3.1.txt", 10, "0x0000", 0, 0, "ACPI is supported"},
		{"vmware-vm-dmidecode.txt", 6, "0x0000", 0, 0, "PC Card (PCMCIA) is supported"},
		{"firecracker-debian12-dmidecode3.4-no-dmi.out", 0, "", 0, 0, ""},
		// dmidecode 2.2: Handle, type and title on separate indented lines.
		{"award-2003-dmidecode2.2-spaces.txt", 4, "0x0000", 0, 0, "ATAPI Zip drive boot is supported"},
		{"freebsd-virtualbox-dmidecode2.10.txt", 5, "0x0000", 0, 0, "ACPI is supported"},
		{"intel-dh61ag-dmidecode2.11.txt", 52, "0x0000", 0, 2, "BIOS is upgradeable"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			recs, err := parseDmidecode(bytes.NewReader(readFixture(t, filepath.Join("dmidecode", tt.file))))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.records {
				t.Fatalf("got %d records, want %d", len(recs), tt.records)
			}
			if tt.records == 0 {
				return
			}
			if recs[0].Title != "BIOS Information" || recs[0].Handle != tt.firstHandle || recs[0].Type != tt.firstType {
				t.Errorf("got first record %q handle %q type %d, want BIOS Information %q %d",
					recs[0].Title, recs[0].Handle, recs[0].Type, tt.firstHandle, tt.firstType)
			}
			mem := 0
			for _, r := range recs {
				if r.Title == "Memory Device" {
					mem++
				}
			}
			if mem != tt.memDevices {
				t.Errorf("got %d Memory Device records, want %d", mem, tt.memDevices)
			}
			if !slices.Contains(recs[0].Lists["Characteristics"], tt.biosList) {
				t.Errorf("got BIOS Characteristics %q, want it to contain %q", recs[0].Lists["Characteristics"], tt.biosList)
			}
		})
	}
}

func TestDmidecodeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		raw  map[string]string // raw values picked
		norm map[string]string // after identity; absent = placeholder
	}{
		{
			file: "hp-z420-workstation-dmidecode.txt",
			raw: map[string]string{
				fieldVendor: "Hewlett-Packard", fieldModel: "HP Z420 Workstation",
				fieldSystemSerial: "2UA25107BB", fieldSystemUUID: "4596BF80-41F0-11E2-A3B4-10604B5C7F38",
				fieldBoardSerial: "2UA25107BB", fieldChassisType: "Mini Tower", fieldAssetTag: "2UA25107BB",
				fieldBIOSVendor: "Hewlett-Packard", fieldBIOSVersion: "J61 v02.08", fieldBIOSDate: "10/17/2012",
			},
			norm: map[string]string{
				fieldVendor: "Hewlett-Packard", fieldModel: "HP Z420 Workstation",
				fieldSystemSerial: "2UA25107BB", fieldSystemUUID: "4596bf80-41f0-11e2-a3b4-10604b5c7f38",
				fieldBoardSerial: "2UA25107BB", fieldChassisType: "Mini Tower", fieldAssetTag: "2UA25107BB",
				fieldBIOSVendor: "Hewlett-Packard", fieldBIOSVersion: "J61 v02.08", fieldBIOSDate: "10/17/2012",
			},
		},
		{
			file: "vmware-vm-dmidecode.txt",
			raw: map[string]string{
				fieldVendor: "VMware, Inc.", fieldModel: "VMware Virtual Platform",
				fieldSystemSerial: "VMware-42 1a ee 9a 8e 13 ee e5-fc ec 82 3d cd 74 76 94",
				fieldSystemUUID:   "9aee1a42-138e-e5ee-fcec-823dcd747694",
				fieldBoardSerial:  "None", fieldChassisType: "Other", fieldAssetTag: "No Asset Tag",
				fieldBIOSVendor: "Phoenix Technologies LTD", fieldBIOSVersion: "6.00", fieldBIOSDate: "12/12/2018",
			},
			norm: map[string]string{
				fieldVendor: "VMware, Inc.", fieldModel: "VMware Virtual Platform",
				fieldSystemSerial: "VMWARE-42 1A EE 9A 8E 13 EE E5-FC EC 82 3D CD 74 76 94",
				fieldSystemUUID:   "9aee1a42-138e-e5ee-fcec-823dcd747694",
				fieldChassisType:  "Other",
				fieldBIOSVendor:   "Phoenix Technologies LTD", fieldBIOSVersion: "6.00", fieldBIOSDate: "12/12/2018",
			},
		},
		{
			file: "ubuntu-18.04-vmware-dmidecode.txt",
			raw: map[string]string{
				fieldVendor: "VMware, Inc.", fieldModel: "VMware Virtual Platform",
				fieldSystemSerial: "VMware-56 4d 0d 1a cc cf 45 fa-43 81 ac 1f 3b 99 45 17",
				fieldSystemUUID:   "1A0D4D56-CFCC-FA45-4381-AC1F3B994517",
				fieldBoardSerial:  "None", fieldChassisType: "Other", fieldAssetTag: "No Asset Tag",
				fieldBIOSVendor: "Phoenix Technologies LTD", fieldBIOSVersion: "6.00", fieldBIOSDate: "04/13/2018",
			},
			norm: map[string]string{
				fieldVendor: "VMware, Inc.", fieldModel: "VMware Virtual Platform",
				fieldSystemSerial: "VMWARE-56 4D 0D 1A CC CF 45 FA-43 81 AC 1F 3B 99 45 17",
				fieldSystemUUID:   "1a0d4d56-cfcc-fa45-4381-ac1f3b994517",
				fieldChassisType:  "Other",
				fieldBIOSVendor:   "Phoenix Technologies LTD", fieldBIOSVersion: "6.00", fieldBIOSDate: "04/13/2018",
			},
		},
		{
			file: "virtualbox-vm-dmidecode3.1.txt",
			raw: map[string]string{
				fieldVendor: "innotek GmbH", fieldModel: "VirtualBox",
				fieldSystemSerial: "0", fieldSystemUUID: "784198EC-5827-476E-9E24-B0E98E8958F5",
				fieldBoardSerial: "0", fieldChassisType: "Other", fieldAssetTag: "Not Specified",
				fieldBIOSVendor: "innotek GmbH", fieldBIOSVersion: "VirtualBox", fieldBIOSDate: "12/01/2006",
			},
			norm: map[string]string{
				fieldVendor: "innotek GmbH", fieldModel: "VirtualBox",
				fieldSystemUUID:  "784198ec-5827-476e-9e24-b0e98e8958f5",
				fieldChassisType: "Other",
				fieldBIOSVendor:  "innotek GmbH", fieldBIOSVersion: "VirtualBox", fieldBIOSDate: "12/01/2006",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			recs, err := parseDmidecode(bytes.NewReader(readFixture(t, filepath.Join("dmidecode", tt.file))))
			if err != nil {
				t.Fatal(err)
			}
			raw := dmidecodeFields(recs)
			// The vendor-rule inputs are checked by TestVendorRules.
			delete(raw, fieldSystemVersion)
			delete(raw, fieldChassisSerial)
			if diff := cmp.Diff(tt.raw, raw); diff != "" {
				t.Errorf("raw fields (-want +got):\n%s", diff)
			}
			d := newDMIResult()
			d.apply(raw, func(dmiField) string { return "dmidecode" })
			if diff := cmp.Diff(tt.norm, d.Values); diff != "" {
				t.Errorf("normalised fields (-want +got):\n%s", diff)
			}
			for f := range tt.raw {
				if _, ok := tt.norm[f]; !ok && d.Reasons[f] == "" {
					t.Errorf("got no reason for placeholder %s=%q", f, tt.raw[f])
				}
			}
		})
	}
}

func FuzzParseDmidecode(f *testing.F) {
	for _, name := range []string{
		"hp-z420-workstation-dmidecode.txt", "ubuntu-18.04-vmware-dmidecode.txt",
		"virtualbox-vm-dmidecode3.1.txt", "vmware-vm-dmidecode.txt",
		"firecracker-debian12-dmidecode3.4-no-dmi.out",
		"award-2003-dmidecode2.2-spaces.txt", "intel-dh61ag-dmidecode2.11.txt",
	} {
		f.Add(readFixture(f, filepath.Join("dmidecode", name)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseDmidecode(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.Props == nil || r.Lists == nil {
				t.Fatalf("record %q has nil maps", r.Title)
			}
		}
		_ = dmidecodeFields(recs)
	})
}
