package hardware

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rosterhq/roster/shared/wire"
)

// identityFacts are the facts compared and counted, in report order.
var identityFacts = []string{
	"vendor", "model", "system_serial", "system_uuid", "board_serial",
	"chassis_type", "asset_tag", "bios_vendor", "bios_version", "bios_date",
}

func factValue(hw *wire.Hardware, f string) string {
	return map[string]string{
		"vendor": hw.Vendor, "model": hw.Model, "system_serial": hw.SystemSerial,
		"system_uuid": hw.SystemUUID, "board_serial": hw.BoardSerial, "chassis_type": hw.ChassisType,
		"asset_tag": hw.AssetTag, "bios_vendor": hw.BIOSVendor, "bios_version": hw.BIOSVersion, "bios_date": hw.BIOSDate,
	}[f]
}

// fromDmidecodeText runs the probe on a host whose only source is the
// given dmidecode output.
func fromDmidecodeText(t *testing.T, path string) *wire.Hardware {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "commands"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "commands", "dmidecode.out"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	hw, _ := runProbe(t, captured(t, dir))
	return hw
}

// TestIdentityAgreement is issue 13's agreement figure (make bench prints
// it with -v): for every real SMBIOS dump in the repository, the probe's
// identity from the table (the kernel's layout) against the same
// machine's dmidecode text (dmidecode 3.4 --from-dump), fact by fact; and
// for every real dmidecode capture, how many identity facts the probe
// gets from it alone, whatever its layout. A disagreement fails the test.
func TestIdentityAgreement(t *testing.T) {
	dumps, _ := filepath.Glob(filepath.Join(smbiosDumps, "*.bin"))
	sort.Strings(dumps)
	var lines []string
	agree, compared := 0, 0
	for _, d := range dumps {
		stem := strings.TrimSuffix(filepath.Base(d), ".bin")
		texts, _ := filepath.Glob(filepath.Join(smbiosDumps, stem+".dmidecode*.txt"))
		dir := t.TempDir()
		tableTree(t, dir, filepath.Base(d))
		fromTable, _ := runProbe(t, captured(t, dir))
		for _, txt := range texts {
			fromText := fromDmidecodeText(t, txt)
			var diffs []string
			n := 0
			for _, f := range identityFacts {
				a, b := factValue(fromTable, f), factValue(fromText, f)
				compared++
				if a == b {
					agree++
					if a != "" {
						n++
					}
					continue
				}
				diffs = append(diffs, fmt.Sprintf("%s table=%q text=%q", f, a, b))
			}
			status := "agree"
			if len(diffs) > 0 {
				status = "DISAGREE " + strings.Join(diffs, "; ")
				t.Errorf("%s vs %s: %s", stem, filepath.Base(txt), status)
			}
			lines = append(lines, fmt.Sprintf("%-42s table vs %-48s %2d/%d facts equal (%d known on both): %s",
				stem, filepath.Base(txt), len(identityFacts)-len(diffs), len(identityFacts), n, status))
		}
	}
	var texts []string
	for _, pat := range []string{filepath.Join(fixtures, "dmidecode", "*.txt"), filepath.Join(smbiosDumps, "*.txt")} {
		m, _ := filepath.Glob(pat)
		texts = append(texts, m...)
	}
	sort.Strings(texts)
	for _, txt := range texts {
		hw := fromDmidecodeText(t, txt)
		known := 0
		var unknown []string
		for _, f := range identityFacts {
			if factValue(hw, f) != "" {
				known++
			} else if hw.Unknown[f] != "" {
				unknown = append(unknown, f)
			} else {
				t.Errorf("%s: %s neither known nor explained", filepath.Base(txt), f)
			}
		}
		lines = append(lines, fmt.Sprintf("%-52s dmidecode text alone: %2d/%d identity facts known; unknown (placeholder or absent): %s",
			filepath.Base(txt), known, len(identityFacts), strings.Join(unknown, ", ")))
	}
	t.Logf("identity agreement, table vs dmidecode text on the same machine: %d/%d fact comparisons equal\n%s",
		agree, compared, strings.Join(lines, "\n"))
}
