package main

// The issue-11 enrolment end-to-end test with the real binaries on
// loopback: a second agent enrolling with the first one's hardware
// identity becomes a new device and both are flagged identity_conflict,
// the first keeps reporting, a wipe queued for the first reaches neither
// the second's ack nor accepts a status from its certificate, revoking
// the second resolves the conflict, allow-reenroll lets a reinstall
// continue the first record, and an intact state directory re-enrols by
// key proof. Both agents read the captured Dell server (--host-root), so
// they share a system serial on any machine the test runs on.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

// enrolResult is roster-agent enroll --json.
type enrolResult struct {
	DeviceID   string `json:"device_id"`
	ReEnrolled bool   `json:"re_enrolled"`
	Rule       string `json:"rule"`
}

// deviceView is the part of `rosterctl devices show --json` this test reads.
type deviceView struct {
	ID        string   `json:"id"`
	State     string   `json:"state"`
	Flags     []string `json:"flags"`
	Enrolment *struct {
		Rule          string `json:"rule"`
		SecretLabel   string `json:"secret_label"`
		MatchedBy     string `json:"matched_by"`
		MatchedDevice string `json:"matched_device"`
		Detail        string `json:"detail"`
	} `json:"enrolment"`
	IdentityConflicts []struct {
		Device string `json:"device_id"`
		Other  string `json:"other_id"`
	} `json:"identity_conflicts"`
	ReenrollAllowedUntil *time.Time `json:"reenroll_allowed_until"`
}

func (d deviceView) conflicted() bool { return slices.Contains(d.Flags, "identity_conflict") }

func TestIdentityConflictEndToEnd(t *testing.T) {
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	admin := func(args ...string) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, args...)
		if code != 0 {
			t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	show := func(id string) deviceView {
		t.Helper()
		var d deviceView
		decodeJSON(t, "devices show "+id, admin("devices", "show", id, "--json"), &d)
		return d
	}
	wipeState := func(id string) string {
		t.Helper()
		var w struct {
			State string `json:"state"`
		}
		decodeJSON(t, "offboard status", admin("offboard", "status", id, "--json"), &w)
		return w.State
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", admin("secrets", "create", "--label", "identity-e2e", "--expires", "1h", "--json"), &secret)

	dellRoot, err := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	stateA, stateB, stateC := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "c")
	base := func(stateDir string) []string {
		return []string{"--state-dir", stateDir, "--transport", "https", "--os", "linux", "--host-root", dellRoot}
	}
	enrol := func(stateDir string) enrolResult {
		t.Helper()
		out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret,
			"--ca-fingerprint", c.Fingerprint, "--json"}, base(stateDir)...)...)
		if code != 0 {
			t.Fatalf("enroll (%s): exit %d: %s", filepath.Base(stateDir), code, errOut)
		}
		var r enrolResult
		decodeJSON(t, "enroll", out, &r)
		return r
	}
	report := func(stateDir string) (reportResultWithCommands, string, int) {
		t.Helper()
		out, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, base(stateDir)...)...)
		var r reportResultWithCommands
		if code == 0 {
			decodeJSON(t, "report", out, &r)
		}
		return r, errOut, code
	}

	// Agent A enrols and reports.
	a := enrol(stateA)
	if a.ReEnrolled || a.Rule != "new" {
		t.Errorf("A enrolled %+v, want a new device", a)
	}
	if r, errOut, code := report(stateA); code != 0 || r.Status != wire.AckApplied {
		t.Fatalf("A's first report: exit %d %+v: %s", code, r, errOut)
	}

	// Agent B, a fresh state directory with the same hardware identity,
	// becomes a new record in conflict with A, not A.
	b := enrol(stateB)
	if b.DeviceID == a.DeviceID || b.ReEnrolled || b.Rule != "conflict" {
		t.Fatalf("B enrolled %+v; want a new device (not %s) with rule conflict", b, a.DeviceID)
	}
	for _, id := range []string{a.DeviceID, b.DeviceID} {
		d := show(id)
		if !d.conflicted() || len(d.IdentityConflicts) != 1 ||
			d.IdentityConflicts[0].Device != b.DeviceID || d.IdentityConflicts[0].Other != a.DeviceID {
			t.Errorf("devices show %s: flags %v, conflicts %+v; want identity_conflict and the pair new %s, live %s",
				id, d.Flags, d.IdentityConflicts, b.DeviceID, a.DeviceID)
		}
		text := admin("devices", "show", id)
		if !strings.Contains(text, "Identity conflicts") || !strings.Contains(text, "devices merge NEW --into OLD") {
			t.Errorf("devices show %s has no identity conflict section:\n%s", id, text)
		}
	}
	if d := show(b.DeviceID); d.Enrolment == nil || d.Enrolment.Rule != "conflict" || d.Enrolment.MatchedBy != "system_serial" ||
		d.Enrolment.MatchedDevice != a.DeviceID || d.Enrolment.SecretLabel != "identity-e2e" {
		t.Errorf("B's enrolment record %+v; want rule conflict matched by system_serial to %s with secret identity-e2e", d.Enrolment, a.DeviceID)
	}
	// A's certificate was not revoked: it keeps reporting.
	if r, errOut, code := report(stateA); code != 0 || r.Status != wire.AckApplied || r.DeviceID != a.DeviceID {
		t.Fatalf("A's report after B enrolled: exit %d %+v: %s; want applied for %s", code, r, errOut, a.DeviceID)
	}
	if r, errOut, code := report(stateB); code != 0 || r.Status != wire.AckApplied || r.DeviceID != b.DeviceID {
		t.Fatalf("B's first report: exit %d %+v: %s", code, r, errOut)
	}

	// A wipe queued for A goes neither to B's ack nor takes B's status.
	wipeID := strings.TrimSpace(admin("offboard", "start", a.DeviceID, "--ticket", "HR-11", "--reason", "leaver", "--method", "agent"))
	if r, errOut, code := report(stateB); code != 0 || len(r.Commands) != 0 {
		t.Errorf("B's report with a wipe queued for A: exit %d, commands %+v: %s; want none", code, r.Commands, errOut)
	}
	if got := wipeState(wipeID); got != "requested" {
		t.Errorf("wipe after B's report: %s, want requested", got)
	}
	for _, status := range []string{wire.CommandCompleted, wire.CommandDelivered} {
		code, body := postCommandStatus(t, c, stateB, wire.CommandStatus{CommandID: wipeID, Status: status, At: time.Now().UTC()})
		if code != http.StatusNotFound && code != http.StatusForbidden {
			t.Errorf("status %s for A's wipe with B's certificate: %d %s; want refused", status, code, body)
		}
	}
	if got := wipeState(wipeID); got != "requested" {
		t.Errorf("wipe after B posted statuses: %s, want requested", got)
	}
	// The delivery path itself works: A's own certificate receives the
	// command (and its agent, not configured for wipes, refuses it).
	r, errOut, code := report(stateA)
	if code != 0 || len(r.Commands) != 1 || r.Commands[0].CommandID != wipeID || r.Commands[0].Status != wire.CommandRefused {
		t.Errorf("A's report with its wipe queued: exit %d, commands %+v: %s; want %s refused", code, r.Commands, errOut, wipeID)
	}
	if got := wipeState(wipeID); got != "failed" {
		t.Errorf("wipe after A refused it: %s, want failed", got)
	}

	// Revoking B resolves the conflict: A's flag is lifted.
	admin("devices", "revoke", b.DeviceID)
	if d := show(a.DeviceID); d.conflicted() || len(d.IdentityConflicts) != 0 {
		t.Errorf("A after revoking B: flags %v, conflicts %+v; want the conflict cleared", d.Flags, d.IdentityConflicts)
	}
	if _, errOut, code := report(stateB); code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("B's report after revocation: exit %d %q; want refused as revoked", code, errOut)
	}
	if r, errOut, code := report(stateA); code != 0 || r.Status != wire.AckApplied {
		t.Errorf("A's report after revoking B: exit %d %+v: %s", code, r, errOut)
	}

	// A planned reinstall: an admin allows it, and a fresh state
	// directory with A's identity continues A's record although A is alive.
	var allowed deviceView
	decodeJSON(t, "allow-reenroll", admin("devices", "allow-reenroll", a.DeviceID, "--within", "1h", "--json"), &allowed)
	if allowed.ReenrollAllowedUntil == nil || time.Until(*allowed.ReenrollAllowedUntil) > time.Hour || time.Until(*allowed.ReenrollAllowedUntil) < 50*time.Minute {
		t.Errorf("allow-reenroll: until %v, want about an hour from now", allowed.ReenrollAllowedUntil)
	}
	cr := enrol(stateC)
	if cr.DeviceID != a.DeviceID || !cr.ReEnrolled || cr.Rule != "admin_allowed" {
		t.Fatalf("reinstall enrolled %+v; want %s re-enrolled by admin_allowed", cr, a.DeviceID)
	}
	if d := show(a.DeviceID); d.Enrolment == nil || d.Enrolment.Rule != "admin_allowed" || !strings.Contains(d.Enrolment.Detail, "reinstall allowed until") ||
		d.ReenrollAllowedUntil != nil || d.conflicted() {
		t.Errorf("A after the reinstall: enrolment %+v, allowance %v, flags %v; want admin_allowed, the allowance used up, no conflict",
			d.Enrolment, d.ReenrollAllowedUntil, d.Flags)
	}
	// The old installation's certificate is gone with it.
	if _, errOut, code := report(stateA); code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("old installation's report after the reinstall: exit %d %q; want refused as revoked", code, errOut)
	}
	if r, errOut, code := report(stateC); code != 0 || r.Status != wire.AckApplied || r.DeviceID != a.DeviceID {
		t.Errorf("reinstall's report: exit %d %+v: %s", code, r, errOut)
	}

	// Re-enrolling from the intact state directory proves the key: same
	// record, no allowance needed, no conflict although A is alive.
	again := enrol(stateC)
	if again.DeviceID != a.DeviceID || !again.ReEnrolled || again.Rule != "key_proof" {
		t.Fatalf("re-enrolment from an intact state directory: %+v; want %s by key_proof", again, a.DeviceID)
	}
	if d := show(a.DeviceID); d.Enrolment == nil || d.Enrolment.Rule != "key_proof" || d.conflicted() {
		t.Errorf("A after the key-proof re-enrolment: enrolment %+v, flags %v", d.Enrolment, d.Flags)
	}
	if r, errOut, code := report(stateC); code != 0 || r.Status != wire.AckApplied {
		t.Errorf("report after the key-proof re-enrolment: exit %d %+v: %s", code, r, errOut)
	}

	// The audit log holds each enrolment with its rule, the conflict, the
	// revocation and the allowance.
	var log struct {
		Items []struct {
			Action  string `json:"action"`
			Target  string `json:"target"`
			Outcome string `json:"outcome"`
			Detail  string `json:"detail"`
		} `json:"items"`
	}
	decodeJSON(t, "audit log", admin("audit", "log", "--action", "device.*", "--all", "--json"), &log)
	got := map[string]bool{}
	for _, e := range log.Items {
		var detail struct {
			Rule   string `json:"rule"`
			Secret string `json:"secret_label"`
		}
		_ = json.Unmarshal([]byte(e.Detail), &detail)
		key := e.Action + " " + e.Target
		if detail.Rule != "" {
			key += " rule " + detail.Rule + " secret " + detail.Secret
		}
		got[key] = true
	}
	for _, want := range []string{
		"device.enrolled device:" + a.DeviceID + " rule new secret identity-e2e",
		"device.enrolled device:" + b.DeviceID + " rule conflict secret identity-e2e",
		"device.identity_conflict device:" + b.DeviceID,
		"device.revoked device:" + b.DeviceID,
		"device.reenroll_allowed device:" + a.DeviceID,
		"device.re_enrolled device:" + a.DeviceID + " rule admin_allowed secret identity-e2e",
		"device.re_enrolled device:" + a.DeviceID + " rule key_proof secret identity-e2e",
	} {
		if !got[want] {
			t.Errorf("audit log lacks %q; has:\n%s", want, strings.Join(slices.Sorted(maps.Keys(got)), "\n"))
		}
	}
	out, errOut, code := rosterctl(t, c, c.AdminToken, "audit", "verify")
	if code != 0 {
		t.Errorf("audit verify: exit %d %s %s", code, out, errOut)
	}
}

// reportResultWithCommands is roster-agent report --once --json with the
// statuses of the commands the run handled.
type reportResultWithCommands struct {
	reportResult
	Commands []struct {
		CommandID string `json:"command_id"`
		Status    string `json:"status"`
	} `json:"commands"`
}

// postCommandStatus posts st to the collector as the agent of stateDir,
// with its client certificate, as an agent that never received the
// command would.
func postCommandStatus(t *testing.T, c *collectortest.Collector, stateDir string, st wire.CommandStatus) (int, string) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(stateDir, "cert.pem"), filepath.Join(stateDir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(stateDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no CA in %s", stateDir)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}},
	}}
	defer hc.CloseIdleConnections()
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(c.URL+"/api/v1/agent/commands/status", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post command status: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReenrolWithRebuiltCollector: a collector rebuilt from an empty data
// directory at the same address has a new CA. An agent whose state
// directory still holds its enrolment with the old one re-enrols there
// with the new fingerprint: it must not send a key proof made with the
// old CA's certificate, which the new collector refuses (bad_proof), and
// with it the enrolment.
func TestReenrolWithRebuiltCollector(t *testing.T) {
	dellRoot, err := filepath.Abs("../../testdata/hosts/linux/dell-r6515-centos7")
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	enrol := func(c *collectortest.Collector) (enrolResult, string, int) {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--label", "rebuild-e2e", "--expires", "1h", "--json")
		if code != 0 {
			t.Fatalf("secrets create: exit %d: %s", code, errOut)
		}
		var secret struct {
			Secret string `json:"secret"`
		}
		decodeJSON(t, "secrets create", out, &secret)
		out, errOut, code = agent(t, "enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json",
			"--state-dir", stateDir, "--transport", "https", "--os", "linux", "--host-root", dellRoot)
		var r enrolResult
		if code == 0 {
			decodeJSON(t, "enroll", out, &r)
		}
		return r, errOut, code
	}
	old := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false"}})
	first, errOut, code := enrol(old)
	if code != 0 {
		t.Fatalf("enroll with the first collector: exit %d: %s", code, errOut)
	}
	if code := old.Stop(); code != 0 {
		t.Fatalf("stop the first collector: exit %d", code)
	}

	rebuilt := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--http3=false", "--listen", old.Addr}})
	if rebuilt.URL != old.URL || rebuilt.Fingerprint == old.Fingerprint {
		t.Fatalf("rebuilt collector at %s with CA %s; want %s with a new CA", rebuilt.URL, rebuilt.Fingerprint, old.URL)
	}
	again, errOut, code := enrol(rebuilt)
	if code != 0 {
		t.Fatalf("re-enrol with the rebuilt collector: exit %d: %s", code, errOut)
	}
	if again.Rule != "new" || again.ReEnrolled || again.DeviceID == first.DeviceID {
		t.Errorf("re-enrolment with the rebuilt collector: %+v; want a new device", again)
	}
}
