package installsh

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/installers/linuxpkg"
)

// TestInstallScriptEndToEnd does what the documentation tells IT to do, on
// this machine, as root: a real collector on loopback serves a downloads
// directory holding the roster-agent .deb (installers/linuxpkg) and its
// SHA256SUMS; install.sh is
// fetched from it with curl and piped to sh with --secret-file. systemd is
// not PID 1 here, so the script enrols directly. Afterwards the device is
// in the registry, the secret file is gone and the install method is
// recorded; the package is purged and every file removed when the test ends.
func TestInstallScriptEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a package on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it installs roster-agent with dpkg")
	}
	for _, tool := range []string{"dpkg", "curl", "sha256sum", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the script would restart the service instead of enrolling")
	}
	lockInstalls(t)
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "roster-agent").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Skip("roster-agent is installed on this machine: not touching it")
	}
	for _, p := range []string{"/etc/roster/agent.yaml", "/var/lib/roster-agent"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists: not touching a real agent's files", p)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	work := t.TempDir()
	bin, err := collectortest.Build(ctx, work, "")
	if err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(work, "roster-agent")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", agent, "github.com/rosterhq/roster/cmd/roster-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build roster-agent: %v\n%s", err, out)
	}
	downloads := filepath.Join(work, "downloads")
	if err := os.Mkdir(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	// The agent's real .deb, as make installers builds it.
	if _, err := linuxpkg.Build(linuxpkg.Options{Binaries: map[string]string{"amd64": agent}, Describe: "v0.9.0", OutDir: downloads, Formats: []string{linuxpkg.FormatDeb}}); err != nil {
		t.Fatal(err)
	}
	sums := exec.Command("sh", "-c", "sha256sum roster-agent_*.deb > SHA256SUMS")
	sums.Dir = downloads
	if out, err := sums.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum: %v\n%s", err, out)
	}

	c := collectortest.Start(t, bin, collectortest.Options{Args: []string{"--downloads", downloads, "--http3=false"}})
	api := newAPI(t, c)
	var secret struct {
		Secret string `json:"secret"`
	}
	api.do(t, "POST", "/api/v1/secrets", `{"label":"install.sh e2e","expires_in":"1h","max_uses":1}`, &secret)
	secretFile := filepath.Join(work, "secret")
	if err := os.WriteFile(secretFile, []byte(secret.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(purge)
	// The documented line, with the CA file IT distributes for the first fetch.
	line := fmt.Sprintf("curl -fsSL --cacert %s %s/install.sh | sh -s -- --secret-file %s --tags lab,e2e --yes",
		Quote(c.CAFile), c.URL, Quote(secretFile))
	run := exec.CommandContext(ctx, "sh", "-c", line)
	// The installed /usr/bin/roster-agent, not the one built above.
	run.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	start := time.Now()
	if err := run.Run(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out.String())
	}
	t.Logf("install.sh took %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	if st, err := exec.Command("dpkg-query", "-W", "-f", "${Status} ${Version}", "roster-agent").Output(); err != nil || string(st) != "install ok installed 0.9.0" {
		t.Errorf("dpkg status of roster-agent: %q, %v", st, err)
	}
	if _, err := os.Stat("/etc/roster/enroll-secret"); !os.IsNotExist(err) {
		t.Errorf("/etc/roster/enroll-secret still there after enrolment (%v)", err)
	}
	if b, _ := os.ReadFile("/usr/share/roster-agent/install-method"); string(b) != "script\n" {
		t.Errorf("install-method %q, want script", b)
	}
	cfg, _ := os.ReadFile("/etc/roster/agent.yaml")
	for _, want := range []string{"enroll:\n", `  collector: "` + c.URL + `"`, `  ca_fingerprint: "` + c.Fingerprint + `"`, `    - "lab"`, `    - "e2e"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("agent.yaml lacks %q:\n%s", want, cfg)
		}
	}
	var devices struct {
		Items []struct {
			ID       string `json:"id"`
			Hostname string `json:"hostname"`
		} `json:"items"`
	}
	api.do(t, "GET", "/api/v1/devices", "", &devices)
	host, _ := os.Hostname()
	if len(devices.Items) != 1 || !strings.EqualFold(devices.Items[0].Hostname, host) {
		t.Fatalf("registry holds %+v, want this machine (%s)", devices.Items, host)
	}
	// The first report says how the agent was installed, with the tags.
	var snapshot json.RawMessage
	api.do(t, "GET", "/api/v1/devices/"+devices.Items[0].ID+"/snapshot", "", &snapshot)
	var compact bytes.Buffer
	if err := json.Compact(&compact, snapshot); err != nil {
		t.Fatal(err)
	}
	if want := `"agent":{"install_method":"script","tags":["lab","e2e"]}`; !strings.Contains(compact.String(), want) {
		t.Errorf("snapshot lacks %s:\n%.2000s", want, compact.String())
	}
}

// lockInstalls serialises the tests that install packages on this machine
// (dpkg allows one at a time): every such test in the repository takes
// this lock (installers/collector has the same three lines).
func lockInstalls(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/run/lock/roster-agent-install-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// purge removes the package and everything the script and the agent wrote.
func purge() {
	_ = exec.Command("dpkg", "--purge", "roster-agent").Run()
	for _, p := range []string{"/etc/roster/agent.yaml", "/etc/roster/enroll-secret", "/var/lib/roster-agent", "/usr/share/roster-agent"} {
		_ = os.RemoveAll(p)
	}
	_ = os.Remove("/etc/roster") // only when empty
}

type apiClient struct {
	c      *collectortest.Collector
	client *http.Client
}

func newAPI(t *testing.T, c *collectortest.Collector) *apiClient {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &apiClient{c: c, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

func (a *apiClient) do(t *testing.T, method, path, body string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.c.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.c.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		t.Fatalf("%s %s: %s %s", method, path, res.Status, b.String())
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: decode: %v", method, path, err)
	}
}
