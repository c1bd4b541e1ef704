package main

// The restore drill of issue 16, with real processes: agents enrol and
// report; a backup is taken while the collector serves; more reports come
// (a new package, a new device); the collector stops and the backup is
// restored into a new data directory; a collector starts on it at the
// same address and the agents check in again. The collector detects what
// it lacks through the reports' sequence and hash (it answers resync and
// the agent sends its full state), so nothing reported after the backup
// is lost; a device enrolled after the backup is unknown to the restored
// registry, and its certificate, which the CA issued between the backup
// and the restore, is adopted (registry/restore.go, docs/backup.md).

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// copyTree copies a captured host root so the test can change it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", src, err, out)
	}
	return dst
}

func TestRestoreDrill(t *testing.T) {
	c1 := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	out, errOut, code := rosterctl(t, c1, c1.AdminToken, "secrets", "create", "--label", "drill", "--expires", "1h", "--max-uses", "10", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)

	hosts, _ := filepath.Abs("../../testdata/hosts/linux")
	dell := copyTree(t, filepath.Join(hosts, "dell-r6515-centos7"))
	type drillAgent struct {
		name, id string
		args     []string
	}
	newAgent := func(name, root string) *drillAgent {
		return &drillAgent{name: name, args: []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https", "--os", "linux", "--host-root", root}}
	}
	enrol := func(c *collectortest.Collector, a *drillAgent) {
		t.Helper()
		out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, a.args...)...)
		if code != 0 {
			t.Fatalf("%s: enroll: exit %d: %s", a.name, code, errOut)
		}
		var e struct {
			DeviceID string `json:"device_id"`
		}
		decodeJSON(t, a.name+" enroll", out, &e)
		a.id = e.DeviceID
	}
	report := func(a *drillAgent) (reportResult, string, int) {
		t.Helper()
		out, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, a.args...)...)
		var r reportResult
		if code == 0 {
			decodeJSON(t, a.name+" report", out, &r)
		}
		return r, errOut, code
	}
	mustReport := func(a *drillAgent, what string) reportResult {
		t.Helper()
		r, errOut, code := report(a)
		if code != 0 || r.Status != "applied" {
			t.Fatalf("%s: %s: exit %d, %+v: %s", a.name, what, code, r, errOut)
		}
		return r
	}

	server := newAgent("dell", dell)
	laptop := newAgent("thinkpad", filepath.Join(hosts, "thinkpad-t490-smbios-table"))
	for _, a := range []*drillAgent{server, laptop} {
		enrol(c1, a)
		mustReport(a, "first report")
	}

	// The backup, taken while c1 serves.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "drill.age")
	if out := c1.Run(t, "backup", "--data", c1.DataDir, "--out", file, "--recipient", id.Recipient().String()); !strings.Contains(out, "2 devices") {
		t.Errorf("backup printed %q, want 2 devices", out)
	}

	// After the backup: the server gets a new package, a new device enrols.
	rpm, err := filepath.Glob(filepath.Join(dell, "commands", "rpm_-qa*.out"))
	if err != nil || len(rpm) != 1 {
		t.Fatalf("rpm capture: %v %v", rpm, err)
	}
	f, err := os.OpenFile(rpm[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("roster-drill\t0\t1.2.3\t1.el7\t1700000000\tx86_64\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	afterBackup := mustReport(server, "report after the backup")
	desk := newAgent("virtualbox", filepath.Join(hosts, "virtualbox-arch"))
	enrol(c1, desk)
	mustReport(desk, "first report")
	want := fleet(t, c1, c1.AdminToken)
	if len(want.ids) != 3 || !hasPackage(t, c1, c1.AdminToken, server.id, "roster-drill") {
		t.Fatalf("before the restore: %d devices, want 3 with roster-drill on %s", len(want.ids), server.id)
	}
	if c1.Stop() != 0 {
		t.Fatalf("collector did not stop cleanly: %s", c1.Stderr())
	}

	// Restore into a new directory and serve it at the same address.
	restored := filepath.Join(t.TempDir(), "restored")
	rep := c1.Run(t, "restore", file, "--identity", keyFile, "--data", restored)
	if !strings.Contains(rep, "RESULT: PASSED") {
		t.Fatalf("restore report:\n%s", rep)
	}
	c2 := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: restored, Args: []string{"--http3=false", "--listen", c1.Addr}})
	if c2.Fingerprint != c1.Fingerprint {
		t.Fatalf("restored CA %s, want %s", c2.Fingerprint, c1.Fingerprint)
	}
	if got := fleet(t, c2, c2.AdminToken); len(got.ids) != 2 || hasPackage(t, c2, c2.AdminToken, server.id, "roster-drill") {
		t.Fatalf("restored registry: %d devices, want the 2 of the backup without roster-drill", len(got.ids))
	}

	// The agents check in: the server's report after the backup is
	// missing, the collector asks for its full state and gets it.
	r := mustReport(server, "report after the restore")
	if r.Seq <= afterBackup.Seq || r.Kind != "full" {
		t.Errorf("server report after the restore: %s seq %d, want a full report past seq %d", r.Kind, r.Seq, afterBackup.Seq)
	}
	mustReport(laptop, "report after the restore")
	// The device enrolled after the backup is unknown to the restored
	// registry, but its certificate was issued by this CA between the
	// backup and the restore: adopted on its first request, its record
	// comes back under the same id and its full state follows the resync.
	r = mustReport(desk, "report of a device enrolled after the backup")
	if r.Kind != "full" {
		t.Errorf("device enrolled after the backup: %s report, want full after the resync", r.Kind)
	}
	out, errOut, code = rosterctl(t, c2, c2.AdminToken, "devices", "history", desk.id, "--json")
	if code != 0 || !strings.Contains(out, "recovered_after_restore") {
		t.Errorf("history of the recovered device: exit %d %s %s; want recovered_after_restore", code, errOut, out)
	}
	if out := c2.Run(t, "audit", "verify", "--data", restored); !strings.HasPrefix(out, "audit log verified") {
		t.Errorf("audit verify after the adoption: %s", out)
	}

	got := fleet(t, c2, c2.AdminToken)
	if !slices.Equal(got.hosts, want.hosts) {
		t.Errorf("after the drill the fleet is %v, want %v", got.hosts, want.hosts)
	}
	if !hasPackage(t, c2, c2.AdminToken, server.id, "roster-drill") {
		t.Errorf("the package reported after the backup is lost")
	}
	if out := c2.Run(t, "audit", "verify", "--data", restored); !strings.HasPrefix(out, "audit log verified") {
		t.Errorf("audit verify after the drill: %s", out)
	}
}

type fleetView struct{ ids, hosts []string }

// fleet lists the registry's devices, by id and by hostname (sorted).
func fleet(t *testing.T, c *collectortest.Collector, token string) fleetView {
	t.Helper()
	out, errOut, code := rosterctl(t, c, token, "devices", "list", "--json")
	if code != 0 {
		t.Fatalf("devices list: exit %d: %s", code, errOut)
	}
	var list struct {
		Items []struct {
			ID       string `json:"id"`
			Hostname string `json:"hostname"`
		} `json:"items"`
	}
	decodeJSON(t, "devices list", out, &list)
	var v fleetView
	for _, d := range list.Items {
		v.ids = append(v.ids, d.ID)
		v.hosts = append(v.hosts, d.Hostname)
	}
	slices.Sort(v.hosts)
	return v
}

func hasPackage(t *testing.T, c *collectortest.Collector, token, device, name string) bool {
	t.Helper()
	out, errOut, code := rosterctl(t, c, token, "devices", "software", device, "--all", "--json")
	if code != 0 {
		t.Fatalf("devices software: exit %d: %s", code, errOut)
	}
	return strings.Contains(out, `"`+name+`"`)
}
