package main

// The stale-compliance regression (issue 12), as a new user met it: an
// agent reports, the register is imported, the asset is linked by hand
// with rosterctl, and `devices show` at once judges the device by its
// asset instead of "linked to no asset" until the next report an hour
// later. No report is sent after the first. Real binaries, on loopback.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

func TestLinkReevaluatesWithoutReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("collector.yaml", "compliance:\n  policies: "+write("policies.yaml", e2ePolicies)+"\n")
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--config", cfg, "--http3=false"}})
	ctl := func(args ...string) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, args...)
		if code != 0 {
			t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", ctl("secrets", "create", "--label", "e2e", "--expires", "1h", "--json"), &secret)

	// The captured Dell server (serial 7N62AI2), which the register below
	// does not name: only a hand-made link ties it to its asset.
	dellRoot, err := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", dellRoot}
	out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
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

	type result struct {
		PolicyID string `json:"policy_id"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
	}
	type device struct {
		Compliance struct {
			State   string   `json:"state"`
			Results []result `json:"results"`
		} `json:"compliance"`
	}
	show := func(when string) (device, result) {
		t.Helper()
		var d device
		decodeJSON(t, "devices show", ctl("devices", "show", enrolled.DeviceID, "--json"), &d)
		if len(d.Compliance.Results) != 1 || d.Compliance.Results[0].PolicyID != "E2E-ENC-01" {
			t.Fatalf("%s: results %+v, want E2E-ENC-01 only", when, d.Compliance.Results)
		}
		return d, d.Compliance.Results[0]
	}
	const noAsset = "linked to no asset"
	_, r := show("after the report")
	if r.Status != "unknown" || !strings.Contains(r.Reason, noAsset) {
		t.Fatalf("after the report: %+v, want unknown: %s", r, noAsset)
	}

	ctl("assets", "import", write("register.csv", "asset_tag,serial,type,owner,classification,status\nSRV-0042,,server,Platform Team,confidential,in_service\n"))
	if _, r := show("after the import"); r.Status != "unknown" || !strings.Contains(r.Reason, noAsset) {
		t.Fatalf("after an import that links nothing: %+v, want unknown: %s", r, noAsset)
	}

	// The fixture has no hostname: the device is named by its serial.
	ctl("assets", "link", "SRV-0042", "7N62AI2")
	// In scope as confidential, the disk check itself runs: the fixture
	// lacks a mount table, so it answers unknown for that reason.
	if _, r := show("after the link"); strings.Contains(r.Reason, noAsset) || !strings.Contains(r.Reason, "encryption") {
		t.Fatalf("after the link: %+v; want the encryption policy judged for confidential SRV-0042", r)
	}

	// A classification out of the policy's scope re-scopes at once too;
	// unlinking returns to unknown.
	ctl("assets", "set", "SRV-0042", "--classification", "internal")
	if _, r := show("after the classification change"); r.Status != "not_applicable" || !strings.Contains(r.Reason, "classification internal") {
		t.Fatalf("after the classification change: %+v, want not_applicable for internal", r)
	}
	ctl("assets", "unlink", "SRV-0042")
	if _, r := show("after the unlink"); r.Status != "unknown" || !strings.Contains(r.Reason, noAsset) {
		t.Fatalf("after the unlink: %+v, want unknown: %s", r, noAsset)
	}

	// The compliance history (issue 16) kept each status change the
	// register made, and not the link's change of reason alone.
	var hist struct {
		Transitions []struct {
			PolicyID string `json:"policy_id"`
			Status   string `json:"status"`
			Previous string `json:"previous"`
		} `json:"transitions"`
	}
	decodeJSON(t, "compliance history", ctl("compliance", "history", "7N62AI2", "--from", "1d", "--json"), &hist)
	var changes []string
	for _, tr := range hist.Transitions {
		changes = append(changes, tr.PolicyID+" "+tr.Previous+"→"+tr.Status)
	}
	if want := "E2E-ENC-01 →unknown, E2E-ENC-01 unknown→not_applicable, E2E-ENC-01 not_applicable→unknown"; strings.Join(changes, ", ") != want {
		t.Errorf("compliance history %q, want %q", changes, want)
	}
}
