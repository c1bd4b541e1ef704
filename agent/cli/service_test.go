package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/service"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// fakeManager records what the commands ask of the service manager.
type fakeManager struct {
	mu       sync.Mutex
	state    service.State
	openErr  error
	startErr error
	defs     []service.Definition
	calls    []string
}

func (f *fakeManager) open(d service.Definition) (service.Manager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.defs = append(f.defs, d)
	if f.openErr != nil {
		return nil, f.openErr
	}
	return f, nil
}

func (f *fakeManager) record(call string, next service.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if next != "" {
		f.state = next
	}
}

func (f *fakeManager) Platform() string { return "fake-manager" }
func (f *fakeManager) Install(context.Context) error {
	f.record("install", service.StateStopped)
	return nil
}
func (f *fakeManager) Uninstall(context.Context) error {
	f.record("uninstall", service.StateNotInstalled)
	return nil
}
func (f *fakeManager) Start(context.Context) error {
	if f.startErr != nil {
		f.record("start", "")
		return f.startErr
	}
	f.record("start", service.StateRunning)
	return nil
}
func (f *fakeManager) Stop(context.Context) error {
	f.record("stop", service.StateStopped)
	return nil
}
func (f *fakeManager) Restart(context.Context) error {
	f.record("restart", service.StateRunning)
	return nil
}
func (f *fakeManager) Status(context.Context) (service.State, error) {
	f.record("status", "")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == "" {
		return service.StateNotInstalled, nil
	}
	return f.state, nil
}

func (f *fakeManager) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func runSvc(t *testing.T, f *fakeManager, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runService(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Version: "test", GOOS: "linux"}, f.open)
	return code, out.String(), errb.String()
}

func TestInstallFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pin := "sha256:" + strings.Repeat("ab", 32)
	col := "https://127.0.0.1:8443"
	existing := filepath.Join(dir, "existing.yaml")
	if err := os.WriteFile(existing, []byte("transport: auto\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{"--state-dir", filepath.Join(dir, "state"), "--config", filepath.Join(dir, "agent.yaml")}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no secret for the collector", []string{"--collector", col}, "--secret is required"},
		{"http collector", []string{"--collector", "http://127.0.0.1:8443"}, "must start with https://"},
		{"no secret", []string{"--collector", col, "--ca-fingerprint", pin}, "--secret is required"},
		{"two secrets", []string{"--collector", col, "--secret", "s", "--secret-file", "f", "--ca-fingerprint", pin}, "give --secret or --secret-file, not both"},
		{"no trust", []string{"--collector", col, "--secret", "s"}, "--ca-fingerprint or --ca-file is required"},
		{"bad fingerprint", []string{"--collector", col, "--secret", "s", "--ca-fingerprint", "abcd"}, "--ca-fingerprint: fingerprint"},
		{"unknown probe", []string{"--collector", col, "--secret", "s", "--ca-fingerprint", pin, "--skip", "os/nothing"}, `no linux probe is called "os/nothing"`},
		{"extra argument", []string{"now"}, `unexpected argument "now"`},
		{"transport that the existing config would hide", []string{"--config", existing, "--transport", "https"}, "--transport would not reach the service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeManager{}
			code, _, stderr := runSvc(t, f, append(append([]string{"install"}, paths...), tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.wantErr)
			}
			if calls := f.Calls(); len(calls) > 0 {
				t.Errorf("service manager asked %v after a usage error, want nothing", calls)
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
				t.Errorf("a usage error created the state directory")
			}
		})
	}
}

// TestInstall runs install as an administrator would: against a fake
// collector, with a recording service manager. A failed enrolment
// registers nothing; a good one enrols, writes the config and registers
// and starts `roster-agent run` with the paths given; a second install
// after uninstall keeps the enrolment.
func TestInstall(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "etc", "agent.yaml")
	f := &fakeManager{}
	common := []string{"install", "--state-dir", stateDir, "--config", cfgPath, "--transport", "https", "--host-root", captured,
		"--collector", c.URL, "--ca-fingerprint", c.CA.Fingerprint()}

	code, _, stderr := runSvc(t, f, append(common, "--secret", "wrong")...)
	if code != 1 || !strings.Contains(stderr, "secret_invalid") {
		t.Errorf("wrong secret: exit %d, stderr %q; want 1 and secret_invalid", code, stderr)
	}
	if diff := cmp.Diff([]string{"status"}, f.Calls()); diff != "" {
		t.Errorf("calls after a failed enrolment (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(cfgPath); err == nil {
		t.Errorf("a failed enrolment wrote the config file")
	}

	f = &fakeManager{}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSvc(t, f, append(common, "--secret-file", secretFile, "--json")...)
	if code != 0 {
		t.Fatalf("install exit %d: %s", code, stderr)
	}
	var res installResult
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("install --json %q: %v", stdout, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wantDef := service.Definition{GOOS: "linux", Executable: exe, StateDir: stateDir, ConfigFile: cfgPath}
	want := installResult{DeviceID: res.DeviceID, Collector: c.URL, Enrolled: true, ConfigWritten: true,
		Service: "roster-agent", Platform: "fake-manager", Command: wantDef.CommandLine(), Started: true}
	if diff := cmp.Diff(want, res); diff != "" || res.DeviceID == "" {
		t.Errorf("install --json (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"status", "install", "start"}, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]service.Definition{wantDef}, f.defs); diff != "" {
		t.Errorf("registered definition (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"run", "--state-dir", stateDir, "--config", cfgPath}, wantDef.Arguments()); diff != "" {
		t.Errorf("service arguments (-want +got):\n%s", diff)
	}
	dir1, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if dev, err := dir1.Device(); err != nil || dev.DeviceID != res.DeviceID {
		t.Errorf("enrolled device %+v, %v; want %s", dev, err, res.DeviceID)
	}
	// The service's run reads the config install wrote with the settings
	// given here.
	cfg := config.Defaults("linux")
	if err := cfg.LoadFile(cfgPath, true); err != nil {
		t.Fatalf("written config: %v", err)
	}
	if cfg.StateDir != stateDir || cfg.Transport != "https" {
		t.Errorf("written config has state_dir %q transport %q, want %q and https", cfg.StateDir, cfg.Transport, stateDir)
	}

	// Installed already: refused before anything else happens.
	requests := len(c.Requests())
	code, _, stderr = runSvc(t, f, "install", "--state-dir", stateDir, "--config", cfgPath, "--host-root", captured)
	if code != 1 || !strings.Contains(stderr, "already installed (running)") {
		t.Errorf("second install: exit %d, stderr %q; want 1 and already installed", code, stderr)
	}

	code, _, stderr = runSvc(t, f, "uninstall")
	if code != 0 {
		t.Fatalf("uninstall exit %d: %s", code, stderr)
	}
	// Enrolled already: no enrolment flags needed, none sent, the config
	// kept.
	code, stdout, stderr = runSvc(t, f, "install", "--state-dir", stateDir, "--config", cfgPath, "--host-root", captured, "--no-start")
	if code != 0 || strings.TrimSpace(stdout) != res.DeviceID {
		t.Fatalf("install when enrolled: exit %d, stdout %q, stderr %s; want 0 and %s", code, stdout, stderr, res.DeviceID)
	}
	if got := len(c.Requests()); got != requests {
		t.Errorf("install when enrolled sent %d requests to the collector, want none", got-requests)
	}
	wantCalls := []string{"status", "install", "start", "status", "status", "stop", "uninstall", "status", "install"}
	if diff := cmp.Diff(wantCalls, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestInstallStartFails(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	f := &fakeManager{startErr: errors.New("start roster-agent service: unit failed")}
	code, _, stderr := runSvc(t, f, "install", "--state-dir", filepath.Join(dir, "state"), "--config", filepath.Join(dir, "agent.yaml"),
		"--transport", "https", "--host-root", captured, "--collector", c.URL, "--secret", "s3cret", "--ca-fingerprint", c.CA.Fingerprint())
	if code != 1 || !strings.Contains(stderr, "unit failed (the service is installed; fix the cause and run roster-agent start)") {
		t.Errorf("exit %d, stderr %q; want 1 and advice to start later", code, stderr)
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		action    string
		state     service.State
		openErr   error
		wantCode  int
		wantCalls []string
	}{
		{"start", service.StateStopped, nil, 0, []string{"start"}},
		{"stop", service.StateRunning, nil, 0, []string{"stop"}},
		{"restart", service.StateRunning, nil, 0, []string{"restart"}},
		{"uninstall", service.StateRunning, nil, 0, []string{"status", "stop", "uninstall"}},
		{"uninstall", service.StateStopped, nil, 0, []string{"status", "uninstall"}},
		{"start", "", errors.New("open service manager: none"), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+string(tt.state), func(t *testing.T) {
			t.Parallel()
			f := &fakeManager{state: tt.state, openErr: tt.openErr}
			code, _, stderr := runSvc(t, f, tt.action)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if diff := cmp.Diff(tt.wantCalls, f.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
	f := &fakeManager{}
	if code, _, stderr := runSvc(t, f, "stop", "now"); code != 2 || !strings.Contains(stderr, `unexpected argument "now"`) {
		t.Errorf("stop now: exit %d, stderr %q; want 2", code, stderr)
	}
}

// writeStatus publishes st in a fresh enrolled-looking state directory the
// way the run loop does.
func writeStatus(t *testing.T, st *state.Status) string {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), "state")
	dir, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st != nil {
		if err := dir.SaveStatus(*st); err != nil {
			t.Fatal(err)
		}
	}
	return stateDir
}

func TestStatus(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	published := state.Status{
		DeviceID:         "dev-0123",
		Collector:        "https://collector.example:8443",
		LastReportAt:     at(-10 * time.Minute),
		LastReportStatus: "applied",
		LastHeartbeatAt:  at(-2 * time.Minute),
		NextReportAt:     at(50 * time.Minute),
		NextHeartbeatAt:  at(3 * time.Minute),
		SpoolDepth:       2,
		SpoolBytes:       4096,
		Transport:        "h3",
		UpdatedAt:        now.Add(-2 * time.Minute),
	}
	stale := published
	stale.UpdatedAt = now.Add(-3 * time.Hour)
	stale.NextHeartbeatAt, stale.NextReportAt = at(-2*time.Hour), at(-time.Hour)
	revoked := published
	revoked.Stopped = "the collector revoked this device's certificate"
	tests := []struct {
		name      string
		st        *state.Status
		svc       service.State
		openErr   error
		wantCode  int
		wantFresh bool
		wantText  []string
	}{
		{"running", &published, service.StateRunning, nil, 0, true, []string{
			"service:        running (fake-manager)", "agent:          status updated 2m ago", "device:         dev-0123",
			"collector:      https://collector.example:8443", "(applied)", "spool:          2 reports, 4096 bytes", "transport:      h3"}},
		{"stopped with an old file", &stale, service.StateStopped, nil, 3, false, []string{
			"service:        stopped (fake-manager)", "agent:          status is stale: last updated 3h00m ago"}},
		{"running but stopped sending", &revoked, service.StateRunning, nil, 0, true, []string{
			"stopped:        the collector revoked this device's certificate"}},
		{"not installed, never ran", nil, service.StateNotInstalled, nil, 3, false, []string{
			"service:        not-installed (fake-manager)", "agent:          no status published yet", "device:         not enrolled"}},
		{"no service manager", &published, "", errors.New("open service manager: none found"), 1, true, []string{
			"service:        unknown (no service manager)", "device:         dev-0123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stateDir := writeStatus(t, tt.st)
			f := &fakeManager{state: tt.svc, openErr: tt.openErr}
			cfg := filepath.Join(t.TempDir(), "none.yaml")
			if err := os.WriteFile(cfg, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runSvc(t, f, "status", "--state-dir", stateDir, "--config", cfg)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(stdout, want) {
					t.Errorf("status output lacks %q:\n%s", want, stdout)
				}
			}

			code, stdout, _ = runSvc(t, f, "status", "--json", "--state-dir", stateDir, "--config", cfg)
			if code != tt.wantCode {
				t.Errorf("--json exit %d, want %d", code, tt.wantCode)
			}
			var got agentStatus
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("status --json %q: %v", stdout, err)
			}
			want := agentStatus{StatusFresh: tt.wantFresh}
			if tt.st != nil {
				want.Status = *tt.st
			}
			want.ServiceState, want.Running = string(tt.svc), tt.svc == service.StateRunning
			if tt.openErr != nil {
				want.ServiceState = string(service.StateUnknown)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status --json (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatusJSONKeys pins the documented keys scripts read (docs/agent.md).
func TestStatusJSONKeys(t *testing.T) {
	t.Parallel()
	stateDir := writeStatus(t, &state.Status{SpoolDepth: 0, UpdatedAt: time.Now().UTC()})
	f := &fakeManager{state: service.StateRunning}
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ := runSvc(t, f, "status", "--json", "--state-dir", stateDir, "--config", cfg)
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Always present; the optional ones (device_id, last_report_at, ...)
	// appear once known.
	want := []string{"running", "service_state", "spool_bytes", "spool_depth", "status_fresh", "updated_at"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}
