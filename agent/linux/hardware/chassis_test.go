package hardware

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestParseChassisType(t *testing.T) {
	t.Parallel()
	dell := string(readFixture(t, "sysfs-dmi/dell-poweredge-r6515/chassis_type"))
	tests := []struct {
		in   string
		ok   bool
		code int
		name string
		form string
	}{
		{dell, true, 23, "Rack Mount Chassis", formServer}, // "23\n" from a real R6515
		{"3", true, 3, "Desktop", formDesktop},
		{"10", true, 10, "Notebook", formLaptop},
		{"9", true, 9, "Laptop", formLaptop},
		{"17", true, 17, "Main Server Chassis", formServer},
		{"1", true, 1, "Other", formOther},
		{"2", true, 2, "Unknown", ""},
		{"151", true, 23, "Rack Mount Chassis", formServer}, // 0x80 lock bit set
		{"36", true, 36, "Stick PC", formDesktop},
		{"Mini Tower", true, 6, "Mini Tower", formDesktop}, // dmidecode names
		{"Rack Mount Chassis", true, 23, "Rack Mount Chassis", formServer},
		{"All In One", true, 13, "All in One", formDesktop},
		{"Sub Chassis", true, 19, "SubChassis", formOther},
		{"Blade Enclosing", true, 29, "Blade Enclosure", formServer},
		{"0", false, 0, "", ""},
		{"37", false, 0, "", ""},
		{"-1", false, 0, "", ""},
		{"", false, 0, "", ""},
		{"Spaceship", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			c, ok := parseChassisType(tt.in)
			if ok != tt.ok || c.Code != tt.code || c.Name != tt.name {
				t.Fatalf("got %v %v, want {%d %s} %v", c, ok, tt.code, tt.name, tt.ok)
			}
			if ok {
				if got := c.formFactor(); got != tt.form {
					t.Errorf("got form factor %q, want %q", got, tt.form)
				}
			}
		})
	}
}

// TestChassisNamesFromCaptures checks every chassis type the real
// dmidecode captures print is recognised.
func TestChassisNamesFromCaptures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"hp-z420-workstation-dmidecode.txt", "ubuntu-18.04-vmware-dmidecode.txt", "virtualbox-vm-dmidecode3.1.txt", "vmware-vm-dmidecode.txt"} {
		recs, err := parseDmidecode(bytes.NewReader(readFixture(t, filepath.Join("dmidecode", name))))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Title != "Chassis Information" {
				continue
			}
			if _, ok := parseChassisType(r.Props["Type"]); !ok {
				t.Errorf("%s: chassis type %q not recognised", name, r.Props["Type"])
			}
		}
	}
}

func FuzzParseChassisType(f *testing.F) {
	f.Add(string(readFixture(f, "sysfs-dmi/dell-poweredge-r6515/chassis_type")))
	for _, name := range []string{"hp-z420-workstation-dmidecode.txt", "vmware-vm-dmidecode.txt", "virtualbox-vm-dmidecode3.1.txt"} {
		recs, _ := parseDmidecode(bytes.NewReader(readFixture(f, filepath.Join("dmidecode", name))))
		for _, r := range recs {
			if r.Title == "Chassis Information" {
				f.Add(r.Props["Type"])
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseChassisType(s)
		if ok && (c.Code < 1 || c.Code >= len(chassisNames) || c.Name == "") {
			t.Fatalf("got %v for %q", c, s)
		}
		_ = c.formFactor()
	})
}
