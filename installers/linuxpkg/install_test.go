package linuxpkg

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/shared/wire"
)

// InstallLock is the file a test that installs roster-agent on this very
// machine holds (flock) while it does, so two such tests (this one and
// install.sh's) never share /etc/roster and /var/lib/roster-agent.
const InstallLock = "/run/lock/roster-agent-install-test.lock"

// registry reads the collector's API as an administrator.
type registry struct {
	url, token string
	client     *http.Client
}

func newRegistry(t *testing.T, c *collectortest.Collector) *registry {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}
	t.Cleanup(tr.CloseIdleConnections)
	return &registry{url: c.URL, token: c.AdminToken, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (r *registry) do(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// run runs a command, failing the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestInstallForReal installs the .deb on this machine against a real
// collector on loopback, as IT would with a pre-seeded agent.yaml: the
// package installs, the service's command enrols from the config and
// reports (systemd is not PID 1 here, so the test runs the installed
// binary itself), an upgrade keeps the enrolment and the spool, and purge
// removes everything. It needs root and a machine without roster-agent.
func TestInstallForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a package: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("installing a package needs root")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("packages are built for amd64 and arm64")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	lock, err := os.OpenFile(InstallLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	// Released by the first cleanup registered, so after the last one: the
	// purge below runs in a cleanup too and must still hold the lock, or
	// another package's install test meets dpkg's own lock held by it.
	t.Cleanup(func() { lock.Close() })
	if exec.Command("dpkg-query", "-W", Name).Run() == nil {
		t.Skip("roster-agent is installed on this machine; not touching it")
	}
	for _, p := range []string{"/etc/roster", StateDir, BinaryPath, UnitPath} {
		if exists(p) {
			t.Skipf("%s exists on this machine; not touching it", p)
		}
	}
	t.Cleanup(func() {
		exec.Command("dpkg", "--purge", Name).Run()
		os.RemoveAll("/etc/roster")
		os.RemoveAll(StateDir)
	})

	// Packages from freshly built agents: the first, and a newer build.
	debV1, _ := buildPackages(t, "v0.9.0-1-gaaaaaaa")
	debV2, _ := buildPackages(t, "v0.9.0-2-gbbbbbbb")
	for _, p := range []string{debV1, debV2} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("figure: %s is %.1f MiB", filepath.Base(p), float64(st.Size())/(1<<20))
	}

	ctx := context.Background()
	collectorBin, err := collectortest.Build(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := collectortest.Start(t, collectorBin, collectortest.Options{})
	reg := newRegistry(t, c)
	var secret struct {
		Secret string `json:"secret"`
	}
	if code, err := reg.do("POST", "/api/v1/secrets", map[string]any{"label": "deb", "expires_in": "1h", "max_uses": 1}, &secret); code != 201 {
		t.Fatalf("create secret: %d %v", code, err)
	}

	// IT's pre-seed: the config and the secret file, before the package.
	if err := os.MkdirAll("/etc/roster", 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("# pre-seeded by TestInstallForReal\nenroll:\n  collector: %s\n  ca_fingerprint: %s\n  secret_file: /etc/roster/enroll-secret\n  tags: [site-a, lab]\n", c.URL, c.Fingerprint)
	if err := os.WriteFile(ConfigPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/roster/enroll-secret", []byte(secret.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out := run(t, "dpkg", "-i", debV1)
	installTook := time.Since(start)
	if !strings.Contains(out, "systemd is not running") && !exists("/run/systemd/system") {
		t.Errorf("postinst without systemd did not say so:\n%s", out)
	}
	for _, f := range wantFiles {
		if !exists(f) {
			t.Errorf("after dpkg -i: %s missing", f)
		}
	}
	if st, err := os.Stat(StateDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state dir %v, %v; want mode 0700", st, err)
	}
	if b, _ := os.ReadFile(MarkerPath); string(b) != "deb\n" {
		t.Errorf("marker %q, want deb", b)
	}
	if b, _ := os.ReadFile(ConfigPath); string(b) != conf {
		t.Errorf("dpkg -i changed the pre-seeded %s", ConfigPath)
	}

	// What the service runs (ExecStart), until the first report is in the
	// registry; the timeout is a failure bound.
	agentLog := &bytes.Buffer{}
	agent := exec.Command(BinaryPath, "run", "--state-dir", StateDir, "--config", ConfigPath)
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		agent.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- agent.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("roster-agent run after SIGTERM: %v\n%s", err, agentLog)
			}
		case <-time.After(15 * time.Second):
			agent.Process.Kill()
			<-done
			t.Errorf("roster-agent run did not stop within 15s of SIGTERM")
		}
	}
	defer stop()
	var id string
	var snap wire.Snapshot
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if id == "" {
			if b, err := os.ReadFile(filepath.Join(StateDir, "device.json")); err == nil {
				var d struct {
					DeviceID string `json:"device_id"`
				}
				if json.Unmarshal(b, &d) == nil {
					id = d.DeviceID
				}
			}
		}
		if id != "" {
			if code, _ := reg.do("GET", "/api/v1/devices/"+id+"/snapshot", nil, &snap); code == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report in the registry 3 minutes after install; agent log:\n%s", agentLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	firstReport := time.Since(start)
	stop()
	t.Logf("figure: dpkg -i took %v; install to first report in the registry %v", installTook.Round(time.Millisecond), firstReport.Round(time.Millisecond))

	if exists("/etc/roster/enroll-secret") {
		t.Errorf("the secret file is still there after the enrolment")
	}
	if !exists(ConfigPath) {
		t.Errorf("the enrolment removed %s", ConfigPath)
	}
	want := &wire.AgentInfo{InstallMethod: "deb", Tags: []string{"site-a", "lab"}}
	if snap.Agent == nil || snap.Agent.InstallMethod != want.InstallMethod || !slices.Equal(snap.Agent.Tags, want.Tags) {
		t.Errorf("snapshot agent %+v, want %+v", snap.Agent, want)
	}
	if snap.AgentVersion != "v0.9.0-1-gaaaaaaa" {
		t.Errorf("snapshot agent_version %q, want the first build's", snap.AgentVersion)
	}

	// A report the collector cannot take waits in the spool.
	dead := exec.Command(BinaryPath, "report", "--once", "--collector", "https://127.0.0.1:1", "--config", ConfigPath)
	if out, err := dead.CombinedOutput(); err == nil {
		t.Fatalf("report to a closed port succeeded: %s", out)
	}
	spooled := func() map[string][]byte {
		m := map[string][]byte{}
		entries, _ := os.ReadDir(filepath.Join(StateDir, "spool"))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".report") {
				b, _ := os.ReadFile(filepath.Join(StateDir, "spool", e.Name()))
				m[e.Name()] = b
			}
		}
		return m
	}
	before := spooled()
	if len(before) == 0 {
		t.Fatalf("no report in the spool after a failed report")
	}

	// Upgrade: the enrolment and the spool stay, the binary is the new one.
	run(t, "dpkg", "-i", debV2)
	if got := run(t, "dpkg-query", "-W", "-f", "${Version}", Name); got != "0.9.0+git2.bbbbbbb" {
		t.Errorf("installed version %q after the upgrade", got)
	}
	if v := run(t, BinaryPath, "version"); !strings.Contains(v, "v0.9.0-2-gbbbbbbb") {
		t.Errorf("roster-agent version after the upgrade: %q", v)
	}
	var st struct {
		DeviceID   string `json:"device_id"`
		SpoolDepth int    `json:"spool_depth"`
	}
	statusOut, _ := exec.Command(BinaryPath, "status", "--json").Output()
	if err := json.Unmarshal(statusOut, &st); err != nil || st.DeviceID != id {
		t.Errorf("status after the upgrade: %s (%v); want device %s", statusOut, err, id)
	}
	after := spooled()
	if len(after) != len(before) {
		t.Errorf("spool after the upgrade has %d reports, want the %d from before", len(after), len(before))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("spooled %s changed in the upgrade", name)
		}
	}
	// The upgraded agent delivers what waited, as the same device.
	rep, err := exec.Command(BinaryPath, "report", "--once", "--json").Output()
	var ack struct {
		Status   string `json:"status"`
		DeviceID string `json:"device_id"`
	}
	if err != nil || json.Unmarshal(rep, &ack) != nil || ack.DeviceID != id || (ack.Status != "applied" && ack.Status != "duplicate") {
		t.Errorf("report after the upgrade: %s, %v; want applied as %s", rep, err, id)
	}
	if n := len(spooled()); n != 0 {
		t.Errorf("%d reports still spooled after a delivered report", n)
	}

	// Reinstalling the same version over itself works and changes nothing.
	run(t, "dpkg", "-i", debV2)
	if b, err := os.ReadFile(filepath.Join(StateDir, "device.json")); err != nil || !strings.Contains(string(b), id) {
		t.Errorf("enrolment after a reinstall: %s, %v", b, err)
	}

	// Remove keeps the state; purge deletes it and the package's files.
	run(t, "dpkg", "--remove", Name)
	if exists(BinaryPath) || !exists(filepath.Join(StateDir, "device.json")) {
		t.Errorf("after dpkg --remove: binary there %v, state there %v; want gone and kept", exists(BinaryPath), exists(StateDir))
	}
	if err := os.WriteFile("/etc/roster/enroll-secret", []byte("left over\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "--purge", Name)
	for _, p := range append(slices.Clone(wantFiles), StateDir, "/etc/roster/enroll-secret", "/usr/share/roster-agent", DocDir) {
		if exists(p) {
			t.Errorf("after dpkg --purge: %s is still there", p)
		}
	}
	if _, err := os.Stat(ConfigPath); errors.Is(err, fs.ErrNotExist) {
		t.Errorf("purge removed the administrator's %s, which the package does not own", ConfigPath)
	}
	if exec.Command("dpkg-query", "-W", Name).Run() == nil {
		if s, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", Name).Output(); !strings.Contains(string(s), "not-installed") {
			t.Errorf("dpkg still knows roster-agent after purge: %s", s)
		}
	}
}
