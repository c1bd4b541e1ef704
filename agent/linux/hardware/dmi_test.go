package hardware

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/shared/identity"
)

// TestSysfsDellNormalised checks the identity rules on the real Dell
// R6515 sysfs values, including product_version, which holds firmware
// garbage (U+FFFD, a control byte and "[") that must not survive.
func TestSysfsDellNormalised(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		return strings.TrimSpace(string(readFixture(t, "sysfs-dmi/dell-poweredge-r6515/"+name)))
	}
	raw := map[string]string{}
	for _, f := range dmiFields {
		raw[f.Field] = read(f.File)
	}
	d := newDMIResult()
	d.apply(raw, func(f dmiField) string { return dmiDir + "/" + f.File })
	want := map[string]string{
		fieldVendor:       "Dell Inc.",
		fieldModel:        "PowerEdge R6515",
		fieldSystemSerial: "7N62AI2",
		fieldSystemUUID:   "83340ca8-cb49-4474-8c29-d2088ca84dd9",
		fieldBoardSerial:  ".7N62AI2.GRTCL6944100GP.",
		fieldChassisType:  "Rack Mount Chassis",
		fieldAssetTag:     "",
		fieldBIOSVendor:   "Dell Inc.",
		fieldBIOSVersion:  "2.2.4",
		fieldBIOSDate:     "04/12/2021",
	}
	for f, w := range want {
		if got := d.Values[f]; got != w {
			t.Errorf("%s: got %q, want %q", f, got, w)
		}
	}
	if got := d.Reasons[fieldAssetTag]; got != "/sys/class/dmi/id/chassis_asset_tag is empty" {
		t.Errorf("asset_tag reason: got %q", got)
	}
	if !d.Placeholder[fieldAssetTag] || len(d.missing()) != 0 {
		t.Errorf("got missing %v, want none (an empty asset tag is the firmware's answer)", d.missing())
	}
	if got := identity.Text(read("product_version")); got != "" {
		t.Errorf("product_version: got %q, want it dropped as garbage", got)
	}
}
