package main

// The issue-6 end-to-end test: a real LUKS2 volume on a loop device, the
// real collector, the real roster-agent enrolled with a config naming that
// volume as its wipe target, and rosterctl driving the offboarding as a
// runbook would. First with remote wipe not enabled on the device (the
// agent refuses, the wipe fails with the reason, the keyslots stay), then
// enabled: the keyslots are destroyed, the old passphrase opens nothing,
// and the certificate of sanitisation verifies offline, but not once a
// byte of it changed.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// needLoopLUKS skips unless the test can make loop devices and LUKS
// headers (root on Linux with losetup and cryptsetup).
func needLoopLUKS(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a loop device; skipped with -short")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("wipe end-to-end needs root on Linux for a loop device and cryptsetup; skipped")
	}
	for _, tool := range []string{"losetup", "cryptsetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("wipe end-to-end needs %s (make test installs it: scripts/deps.sh); skipped", tool)
		}
	}
}

func sh(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %s: %v", name, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func mustSh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, code := sh(t, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), code, out)
	}
	return out
}

// keyslots counts the active keyslots cryptsetup's own luksDump lists.
func keyslots(t *testing.T, dev string) int {
	t.Helper()
	dump := mustSh(t, "cryptsetup", "luksDump", dev)
	_, section, ok := strings.Cut(dump, "Keyslots:\n")
	if !ok {
		t.Fatalf("luksDump %s has no Keyslots section:\n%s", dev, dump)
	}
	if i := regexp.MustCompile(`(?m)^\S`).FindStringIndex(section); i != nil {
		section = section[:i[0]]
	}
	return len(regexp.MustCompile(`(?m)^\s+\d+: luks2`).FindAllString(section, -1))
}

func opensWith(t *testing.T, dev, key string) bool {
	t.Helper()
	_, code := sh(t, "cryptsetup", "open", "--test-passphrase", "--key-file", key, dev)
	return code == 0
}

func TestWipeEndToEnd(t *testing.T) {
	needLoopLUKS(t)
	dir := t.TempDir()
	img, key := filepath.Join(dir, "disk.img"), filepath.Join(dir, "passphrase")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 24<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("the leaver's passphrase"), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(mustSh(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mustSh(t, "cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", key, dev)
	if n := keyslots(t, dev); n != 1 || !opensWith(t, dev, key) {
		t.Fatalf("fresh volume: %d keyslots, opens %v; want 1 and opening", n, opensWith(t, dev, key))
	}

	c := collectortest.Start(t, collectorBin, collectortest.Options{})
	out, errOut, code := rosterctl(t, c, c.AdminToken, "secrets", "create", "--label", "wipe-e2e", "--expires", "1h", "--json")
	if code != 0 {
		t.Fatalf("secrets create: exit %d: %s", code, errOut)
	}
	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", out, &secret)

	stateDir := filepath.Join(dir, "state")
	config := func(allow bool) []string {
		p := filepath.Join(dir, "agent.yaml")
		y := "wipe:\n  allow: false\n  targets: [" + dev + "]\n"
		if allow {
			y = "wipe:\n  allow: true\n  targets: [" + dev + "]\n"
		}
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--config", p, "--state-dir", stateDir, "--transport", "https"}
	}
	out, errOut, code = agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, config(false)...)...)
	if code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}
	var enrolled struct {
		DeviceID string `json:"device_id"`
	}
	decodeJSON(t, "enroll", out, &enrolled)
	if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, config(false)...)...); code != 0 {
		t.Fatalf("first report: exit %d: %s", code, errOut)
	}

	offboard := func(allow bool) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, "offboard", "start", enrolled.DeviceID, "--ticket", "HR-123", "--reason", "leaver")
		if code != 0 {
			t.Fatalf("offboard start: exit %d: %s", code, errOut)
		}
		id := strings.TrimSpace(out)
		// The agent takes the command from its report's ack, carries it
		// out and sends the result before it exits.
		out, errOut, code = agent(t, append([]string{"report", "--once", "--json"}, config(allow)...)...)
		t.Logf("report --once (wipe.allow %v): exit %d\n%s\n%s", allow, code, out, errOut)
		return id
	}

	// Not enabled on the device: refused, failed with the reason, nothing
	// erased.
	refused := offboard(false)
	_, errOut, code = rosterctl(t, c, c.AdminToken, "offboard", "wait", refused, "--timeout", "2m", "--interval", "100ms")
	if code != 1 || !strings.Contains(errOut, "wipe.allow") || !strings.Contains(errOut, "record-wipe") {
		t.Errorf("wait on a refused wipe: exit %d, stderr %q; want 1 naming wipe.allow and the manual path", code, errOut)
	}
	if n := keyslots(t, dev); n != 1 || !opensWith(t, dev, key) {
		t.Fatalf("after a refused wipe: %d keyslots, opens %v; want the volume untouched", n, opensWith(t, dev, key))
	}
	// A forged manual record of the failed wipe, by the principal who
	// started the offboarding and naming one person twice, is refused.
	forged := filepath.Join(dir, "forged-report.txt")
	if err := os.WriteFile(forged, []byte("erased, trust me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := rosterctl(t, c, c.AdminToken, "offboard", "record-wipe", refused, "--method", "crypto erase", "--tool", "none",
		"--performed-by", "me", "--verified-by", "me", "--evidence", forged); code != 1 || !strings.Contains(errOut, "second person") {
		t.Errorf("forged manual record: exit %d, stderr %q; want refused", code, errOut)
	}

	// Enabled: erased, verified by the agent, certificate issued.
	id := offboard(true)
	out, errOut, code = rosterctl(t, c, c.AdminToken, "offboard", "wait", id, "--timeout", "2m", "--interval", "100ms", "--json")
	if code != 0 {
		t.Fatalf("offboard wait: exit %d\n%s\n%s\ncollector:\n%s", code, out, errOut, c.Stderr())
	}
	var w struct {
		State          string `json:"state"`
		EvidenceSHA256 string `json:"evidence_sha256"`
	}
	decodeJSON(t, "offboard wait", out, &w)
	if w.State != "completed" || len(w.EvidenceSHA256) != 64 {
		t.Errorf("wipe after wait = %+v, want completed with evidence", w)
	}
	if n := keyslots(t, dev); n != 0 {
		t.Errorf("after the wipe luksDump lists %d keyslots, want none", n)
	}
	if opensWith(t, dev, key) {
		t.Error("the old passphrase still opens the volume after the wipe")
	}
	// The wiped device can no longer report under its identity.
	if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, config(true)...)...); code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("report after the wipe: exit %d, stderr %q; want refused as revoked", code, errOut)
	}

	certFile := filepath.Join(dir, "certificate.json")
	if _, errOut, code := rosterctl(t, c, c.AdminToken, "offboard", "certificate", id, "--format", "json", "-o", certFile); code != 0 {
		t.Fatalf("offboard certificate: exit %d: %s", code, errOut)
	}
	keyFile := filepath.Join(dir, "collector-command-key")
	if err := os.WriteFile(keyFile, []byte(c.Run(t, "ca", "command-key", "--data", c.DataDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Offline: no URL, no token.
	verify := func(file string) (string, string, int) {
		cmd := exec.Command(ctlBin, "offboard", "verify-certificate", file, "--collector-key-file", keyFile)
		cmd.Env = []string{"HOME=" + t.TempDir()}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	out, errOut, code = verify(certFile)
	if code != 0 || !strings.Contains(out, "certificate OK") || !strings.Contains(out, id) {
		t.Errorf("verify-certificate: exit %d, %q %q; want OK for wipe %s", code, out, errOut, id)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"sanitisation_description":"Purge"`, `"luks_version":2`, `"keyslots_after":0`, `"ticket":"HR-123"`, `"device":"` + dev + `"`} {
		if !bytes.Contains(cert, []byte(want)) {
			t.Errorf("certificate lacks %s: %s", want, cert)
		}
	}
	i := bytes.Index(cert, []byte(`"Purge"`))
	cert[i+1] = 'p'
	tampered := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(tampered, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := verify(tampered); code != 1 || !strings.Contains(errOut, "does not verify") {
		t.Errorf("verify a changed certificate: exit %d, %q; want 1, does not verify", code, errOut)
	}
	out, errOut, code = rosterctl(t, c, c.AdminToken, "offboard", "certificate", id, "--format", "html")
	if code != 0 || !strings.Contains(out, "Certificate of Sanitization") || !strings.Contains(out, dev) {
		t.Errorf("html certificate: exit %d %s, want a printable page naming %s", code, errOut, dev)
	}
}
