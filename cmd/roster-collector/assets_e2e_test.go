package main

// The issue-5 register end-to-end test: a real agent reports and is
// flagged unregistered; the fixed-asset register is imported with
// rosterctl (dry run, a refused file, the real import); the flag clears
// and `devices show TAG` shows the register's owner; an in_service asset
// no agent reports for is missing after the flags refresh; and reconcile
// sums it up. All real binaries, on loopback.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

func TestAssetRegisterEndToEnd(t *testing.T) {
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	ctl := func(args ...string) (string, string, int) {
		t.Helper()
		return rosterctl(t, c, c.AdminToken, args...)
	}
	out, errOut, code := ctl("secrets", "create", "--label", "e2e", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)

	// The captured Dell server: serial 7N62AI2.
	dellRoot, _ := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", dellRoot}
	out, errOut, code = agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}
	var enrolled struct {
		DeviceID string `json:"device_id"`
	}
	decodeJSON(t, "enroll", out, &enrolled)
	if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, base...)...); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}

	type device struct {
		ID    string   `json:"id"`
		Flags []string `json:"flags"`
		Asset *struct {
			AssetTag       string `json:"asset_tag"`
			Owner          string `json:"owner"`
			Classification string `json:"classification"`
			Location       string `json:"location"`
			Status         string `json:"status"`
		} `json:"asset"`
	}
	show := func(ref string) device {
		t.Helper()
		out, errOut, code := ctl("devices", "show", ref, "--json")
		if code != 0 {
			t.Fatalf("devices show %s: exit %d: %s", ref, code, errOut)
		}
		var d device
		decodeJSON(t, "devices show", out, &d)
		return d
	}
	if d := show(enrolled.DeviceID); !slices.Contains(d.Flags, "unregistered") || d.Asset != nil {
		t.Fatalf("after the first report: flags %v asset %v, want unregistered and none", d.Flags, d.Asset)
	}

	dir := t.TempDir()
	register := filepath.Join(dir, "register.csv")
	// As finance exports it: BOM, ';', its own header names.
	csv := "\uFEFFInventory No;Serial Number;Owner;Owner Email;Class;Site;Lifecycle\r\n" +
		"SRV-0042;7n62ai2;Platform Team;platform@example.com;Confidential;Frankfurt DC;In Service\r\n" +
		"LAP-0099;PF1X2Y3Z;Ada Lovelace;ada@example.com;internal;Berlin;in_service\r\n"
	if err := os.WriteFile(register, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	mapping := "Inventory No=asset_tag,Serial Number=serial,Class=classification,Site=location,Lifecycle=status"
	out, errOut, code = ctl("assets", "import", register, "--dry-run", "--map", mapping)
	if code != 0 || !strings.Contains(out, "create  SRV-0042 (line 2)") || !strings.Contains(errOut, "dry run, nothing written: 2 created") {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if d := show(enrolled.DeviceID); !slices.Contains(d.Flags, "unregistered") {
		t.Fatalf("a dry run cleared the flag: %v", d.Flags)
	}
	// A file with one bad row changes nothing and names the line.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Replace(csv, "in_service\r\n", "lost\r\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = ctl("assets", "import", bad, "--map", mapping)
	if code != 1 || !strings.Contains(errOut, "line 3: ") || !strings.Contains(errOut, "invalid_rows") {
		t.Fatalf("bad register: exit %d, stderr %q; want exit 1 naming line 3", code, errOut)
	}
	if out, _, _ := ctl("assets", "list", "--json"); !strings.Contains(out, `"items": []`) {
		t.Fatalf("a refused import stored assets: %s", out)
	}

	if out, errOut, code = ctl("assets", "import", register, "--map", mapping); code != 0 {
		t.Fatalf("import: exit %d: %s %s", code, out, errOut)
	}
	d := show("srv-0042")
	if d.ID != enrolled.DeviceID || slices.Contains(d.Flags, "unregistered") || d.Asset == nil ||
		d.Asset.Owner != "Platform Team" || d.Asset.Classification != "confidential" || d.Asset.Location != "Frankfurt DC" || d.Asset.Status != "in_service" {
		t.Fatalf("devices show SRV-0042 = %+v (asset %+v), want the Dell, unflagged, owned by Platform Team", d, d.Asset)
	}

	// LAP-0099 is in service and no agent ever reported for it.
	if out, errOut, code := ctl("assets", "refresh", "--json"); code != 0 {
		t.Fatalf("assets refresh: exit %d: %s %s", code, out, errOut)
	}
	out, _, _ = ctl("assets", "show", "LAP-0099", "--json")
	var lap struct {
		Flags []struct {
			Flag string `json:"flag"`
		} `json:"flags"`
	}
	decodeJSON(t, "assets show", out, &lap)
	if len(lap.Flags) != 1 || lap.Flags[0].Flag != "missing" {
		t.Errorf("LAP-0099 flags %s, want missing", out)
	}
	out, _, _ = ctl("assets", "history", "LAP-0099", "--json")
	if !strings.Contains(out, `"device.missing"`) || !strings.Contains(out, `"actor_name": "e2e-admin"`) {
		t.Errorf("LAP-0099 history %s, want the import by e2e-admin and device.missing", out)
	}

	out, errOut, code = ctl("reconcile", "--json", "--hostname-rule", `^(?P<tag>[A-Z]+-\d+)`)
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, errOut)
	}
	var rec struct {
		Summary map[string]int `json:"summary"`
	}
	decodeJSON(t, "reconcile", out, &rec)
	want := map[string]int{"matched": 1, "unregistered": 0, "missing": 1, "not_in_service": 0, "mismatches": 1}
	for k, v := range want {
		if rec.Summary[k] != v {
			t.Errorf("reconcile %s = %d, want %d (%v)", k, rec.Summary[k], v, rec.Summary)
		}
	}

	// The device leaves service: set through rosterctl, it is flagged.
	if _, errOut, code := ctl("assets", "set", "SRV-0042", "--status", "offboarding"); code != 0 {
		t.Fatalf("assets set: exit %d: %s", code, errOut)
	}
	if d := show(enrolled.DeviceID); !slices.Contains(d.Flags, "not_in_service") {
		t.Errorf("after offboarding: flags %v, want not_in_service", d.Flags)
	}
}
