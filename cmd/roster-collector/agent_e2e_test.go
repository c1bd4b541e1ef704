package main

// The issue-3 end-to-end test: the real roster-collector, the real
// roster-agent (enroll, report --once) over HTTPS and over HTTP/3, and the
// real rosterctl reading back what the registry now holds, all as
// processes on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// buildAgent builds roster-agent the way it ships: pure Go.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "roster-agent-e2e")
		if err != nil {
			agentErr = err
			return
		}
		agentBin = filepath.Join(dir, "roster-agent")
		cmd := exec.Command("go", "build", "-o", agentBin, "github.com/rosterhq/roster/cmd/roster-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = err
			t.Logf("%s", out)
		}
	})
	if agentErr != nil {
		t.Fatalf("build roster-agent: %v", agentErr)
	}
	return agentBin
}

func agent(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), buildAgent(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run roster-agent: %v", err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func decodeJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: decode %q: %v", what, s, err)
	}
}

type reportResult struct {
	Status    string `json:"status"`
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"`
	DeviceID  string `json:"device_id"`
	Transport string `json:"transport"`
}

func TestAgentEnrolsAndReports(t *testing.T) {
	c := collectortest.Start(t, collectorBin, collectortest.Options{})

	out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--label", "e2e", "--expires", "1h", "--max-uses", "2", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)

	// Two agents side by side: this machine over HTTPS, and the captured
	// Dell server over HTTP/3 (its own hardware identity, so the registry
	// holds two devices rather than one re-enrolled one).
	dellRoot, _ := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	agents := []struct {
		name, transport, wantTransport string
		hostArgs                       []string
	}{
		{"live-https", "https", "https", nil},
		{"dell-http3", "http3", "h3", []string{"--os", "linux", "--host-root", dellRoot}},
	}
	ids := map[string]string{}
	baseArgs := map[string][]string{}
	for _, a := range agents {
		stateDir := filepath.Join(t.TempDir(), "state")
		base := append([]string{"--state-dir", stateDir, "--transport", a.transport}, a.hostArgs...)
		baseArgs[a.name] = base

		out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
		if code != 0 {
			t.Fatalf("%s: enroll: exit %d: %s", a.name, code, errOut)
		}
		var enrolled struct {
			DeviceID string `json:"device_id"`
		}
		decodeJSON(t, a.name+" enroll", out, &enrolled)
		ids[a.name] = enrolled.DeviceID
		for _, f := range []string{"key.pem", "cert.pem"} {
			st, err := os.Stat(filepath.Join(stateDir, f))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s: %v, want mode 0600", a.name, f, err)
			}
		}

		for i, wantKind := range []string{wire.ReportFull, wire.ReportDelta} {
			out, errOut, code = agent(t, append([]string{"report", "--once", "--json"}, base...)...)
			if code != 0 {
				t.Fatalf("%s: report %d: exit %d: %s", a.name, i+1, code, errOut)
			}
			var r reportResult
			decodeJSON(t, a.name+" report", out, &r)
			if r.Status != wire.AckApplied || r.Kind != wantKind || r.Seq != uint64(i+1) || r.DeviceID != enrolled.DeviceID || r.Transport != a.wantTransport {
				t.Errorf("%s: report %d = %+v, want applied %s seq %d over %s for %s", a.name, i+1, r, wantKind, i+1, a.wantTransport, enrolled.DeviceID)
			}
		}
	}
	if ids["live-https"] == ids["dell-http3"] {
		t.Fatalf("both agents got device %s", ids["live-https"])
	}

	// The registry, read back through rosterctl.
	out, errOut, code = rosterctl(t, c, c.AdminToken, "devices", "list", "--json")
	if code != 0 {
		t.Fatalf("devices list: exit %d: %s", code, errOut)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	decodeJSON(t, "devices list", out, &list)
	if len(list.Items) != 2 {
		t.Fatalf("devices list: %d devices, want 2: %s", len(list.Items), out)
	}

	out, errOut, code = rosterctl(t, c, c.AdminToken, "devices", "show", "7N62AI2", "--json")
	if code != 0 {
		t.Fatalf("devices show by serial: exit %d: %s", code, errOut)
	}
	var dev map[string]any
	decodeJSON(t, "devices show", out, &dev)
	if dev["id"] != ids["dell-http3"] || dev["vendor"] != "Dell Inc." || dev["model"] != "PowerEdge R6515" || dev["os_name"] != "CentOS Linux" {
		t.Errorf("devices show 7N62AI2 = %v, want the Dell device %s", dev, ids["dell-http3"])
	}
	// Patch level travels to the device record: 41 pending from the yum
	// capture, last update from the rpm install times.
	if n, _ := dev["pending_updates"].(float64); n != 41 || dev["last_update_at"] == nil || dev["os_version"] != "7" {
		t.Errorf("Dell patch level = pending %v, last update %v, version %v; want 41 pending and a last update", dev["pending_updates"], dev["last_update_at"], dev["os_version"])
	}
	if dev["pending_security_updates"] != nil {
		t.Errorf("Dell pending_security_updates = %v, want null: its capture cannot tell", dev["pending_security_updates"])
	}
	if n, _ := dev["software_count"].(float64); n != 7 {
		t.Errorf("Dell software_count = %v, want the 7 rpm packages of its capture", dev["software_count"])
	}

	// The live device's software equals what this machine's inventory
	// says; and the fleet-wide search finds it.
	inv, errOut, code := agent(t, "inventory", "--only", "software")
	if code != 0 {
		t.Fatalf("inventory: %s", errOut)
	}
	var snap wire.Snapshot
	decodeJSON(t, "inventory", inv, &snap)
	out, errOut, code = rosterctl(t, c, c.AdminToken, "devices", "software", ids["live-https"], "--all", "--json")
	if code != 0 {
		t.Fatalf("devices software: exit %d: %s", code, errOut)
	}
	var sw struct {
		Items []map[string]any `json:"items"`
	}
	decodeJSON(t, "devices software", out, &sw)
	if len(sw.Items) != len(snap.Software.Packages) || len(sw.Items) == 0 {
		t.Errorf("devices software: %d packages, the live inventory has %d", len(sw.Items), len(snap.Software.Packages))
	}
	pkg := snap.Software.Packages[0]
	out, errOut, code = rosterctl(t, c, c.AdminToken, "software", "search", pkg.Name, "--version", pkg.Version, "--json")
	if code != 0 || !strings.Contains(out, ids["live-https"]) {
		t.Errorf("software search %s %s: exit %d, %s %s; want the live device", pkg.Name, pkg.Version, code, out, errOut)
	}

	// History records the enrolments.
	out, _, code = rosterctl(t, c, c.AdminToken, "devices", "history", ids["dell-http3"], "--json")
	if code != 0 || !strings.Contains(out, `"enrolled"`) {
		t.Errorf("devices history: exit %d, %s; want an enrolled event", code, out)
	}

	// A third enrolment exceeds the secret's use limit: refused, clearly.
	_, errOut, code = agent(t, "enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--state-dir", filepath.Join(t.TempDir(), "s3"), "--transport", "https")
	if code == 0 || !strings.Contains(errOut, "secret") {
		t.Errorf("third enrolment with a 2-use secret: exit %d, stderr %q; want a refusal naming the secret", code, errOut)
	}

	// A revoked device is refused and told so.
	if _, errOut, code := rosterctl(t, c, c.AdminToken, "devices", "revoke", ids["dell-http3"]); code != 0 {
		t.Fatalf("devices revoke: exit %d: %s", code, errOut)
	}
	_, errOut, code = agent(t, append([]string{"report", "--once", "--json"}, baseArgs["dell-http3"]...)...)
	if code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("report from a revoked device: exit %d, stderr %q; want a refusal saying it is revoked", code, errOut)
	}
}
