package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport/transporttest"
	"github.com/rosterhq/roster/agent/winreg"
	"github.com/rosterhq/roster/shared/wire"
)

// syncBuffer is stderr written by a running loop and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writePreseed writes an agent.yaml with an enroll section as IT would
// drop it beside a package, and the secret file it names.
func writePreseed(t *testing.T, dir string, c *transporttest.Collector, secret string) (cfgPath, secretFile, stateDir string) {
	t.Helper()
	stateDir = filepath.Join(dir, "state")
	secretFile = filepath.Join(dir, "enroll-secret")
	cfgPath = filepath.Join(dir, "agent.yaml")
	yaml := fmt.Sprintf(`state_dir: %s
transport: https
backoff_min: 50ms
backoff_max: 200ms
enroll:
  collector: %s
  ca_fingerprint: %s
  secret_file: %s
  tags: [site-a, lab]
`, stateDir, c.URL, c.CA.Fingerprint(), secretFile)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, secretFile, stateDir
}

// startRun runs `roster-agent run` in the background until stop is called.
func startRun(t *testing.T, env Env, args ...string) (stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	env.Stdout, env.Stderr, env.Version, env.GOOS = &bytes.Buffer{}, stderr, "test", "linux"
	done := make(chan int, 1)
	go func() { done <- Run(ctx, append([]string{"run"}, args...), env) }()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("run did not stop within 10s of cancel")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return stderr, stop
}

// waitFor polls cond; the timeout is a failure bound, not a delay.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunEnrolsFromConfig is a package's first start: the service finds
// no enrolment, enrols from the enroll section, removes the secret file
// and reports, with the tags in the snapshot.
func TestRunEnrolsFromConfig(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	cfgPath, secretFile, stateDir := writePreseed(t, dir, c, "s3cret")
	other := filepath.Join(dir, "unrelated")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	stderr, stop := startRun(t, Env{}, "--config", cfgPath, "--host-root", captured)
	var id string
	waitFor(t, "the first report", func() bool {
		d, err := enrolledDevice(stateDir)
		if err != nil {
			return false
		}
		id = d.DeviceID
		return c.Snapshot(id) != nil
	})
	if code := stop(); code != 0 {
		t.Errorf("run exit %d after stop, want 0; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(secretFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("secret file after enrolment: %v, want it removed", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file beside the secret file was touched: %v", err)
	}
	got := c.Snapshot(id).Agent
	want := &wire.AgentInfo{InstallMethod: wire.InstallManual, Tags: []string{"site-a", "lab"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot agent (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr.String(), "enrolled from the pre-seeded configuration") {
		t.Errorf("stderr lacks the enrolment line:\n%s", stderr)
	}
}

// TestRunWaitsForEnrolment: a refused secret and a missing section are
// retried with a reason, and the secret file is kept until a success.
func TestRunWaitsForEnrolment(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	cfgPath, secretFile, stateDir := writePreseed(t, dir, c, "wrong")

	stderr, stop := startRun(t, Env{}, "--config", cfgPath, "--host-root", captured)
	waitFor(t, "two refused attempts", func() bool {
		return strings.Count(stderr.String(), "secret_invalid") >= 2
	})
	if _, err := os.Stat(secretFile); err != nil {
		t.Errorf("secret file after a refused enrolment: %v, want it kept", err)
	}
	// IT fixes the secret; the next attempt reads it without a restart.
	if err := os.WriteFile(secretFile, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the enrolment", func() bool {
		_, err := enrolledDevice(stateDir)
		return err == nil
	})
	stop()
	waitFor(t, "the secret file's removal", func() bool {
		_, err := os.Stat(secretFile)
		return errors.Is(err, fs.ErrNotExist)
	})

	// No enroll section at all: the reason names the file to edit.
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("backoff_min: 50ms\nbackoff_max: 100ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr2, stop2 := startRun(t, Env{Getenv: func(string) string { return "" }}, "--config", empty, "--state-dir", filepath.Join(dir, "state2"), "--host-root", captured)
	waitFor(t, "the reason", func() bool {
		return strings.Contains(stderr2.String(), "add an enroll section (collector, ca_fingerprint, secret_file) to "+empty)
	})
	if code := stop2(); code != 0 {
		t.Errorf("run exit %d after stop, want 0", code)
	}
}

// TestRunEnrolsWithEnvSecret: ROSTER_ENROLL_SECRET instead of a file.
func TestRunEnrolsWithEnvSecret(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	cfgPath, secretFile, stateDir := writePreseed(t, dir, c, "unused")
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == config.SecretEnv {
			return "s3cret"
		}
		return ""
	}
	_, stop := startRun(t, Env{Getenv: getenv}, "--config", cfgPath, "--host-root", captured)
	waitFor(t, "the enrolment", func() bool {
		_, err := enrolledDevice(stateDir)
		return err == nil
	})
	stop()
}

// TestInstallWithoutEnrolmentFlags: install registers and starts the
// service, which enrols itself, and says so.
func TestInstallWithoutEnrolmentFlags(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	dir := t.TempDir()
	cfgPath, secretFile, stateDir := writePreseed(t, dir, c, "s3cret")
	for _, tt := range []struct {
		name, config, wantNote string
	}{
		{"pre-seeded", cfgPath, "the service enrols itself from the enroll section of " + cfgPath},
		{"nothing pre-seeded", filepath.Join(dir, "new.yaml"), "add an enroll section"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeManager{}
			code, stdout, stderr := runSvc(t, f, "install", "--state-dir", stateDir, "--config", tt.config, "--host-root", captured, "--json")
			if code != 0 {
				t.Fatalf("install exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff([]string{"status", "install", "start"}, f.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			var res installResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil || !res.EnrolsFromConfig || res.Enrolled || res.DeviceID != "" {
				t.Errorf("install --json %s (%v); want enrols_from_config and no enrolment", stdout, err)
			}
			if !strings.Contains(stderr, tt.wantNote) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantNote)
			}
		})
	}
	if len(c.Requests()) != 0 {
		t.Errorf("install sent %d requests, want none (the service enrols)", len(c.Requests()))
	}
	if _, err := os.Stat(secretFile); err != nil {
		t.Errorf("install touched the secret file: %v", err)
	}
	if _, err := enrolledDevice(stateDir); !errors.Is(err, state.ErrNotEnrolled) {
		t.Errorf("enrolment after install: %v, want none", err)
	}
}

// fakeRegistry serves config.RegistryKey's values.
type fakeRegistry map[string]winreg.Value

func (fakeRegistry) Subkeys(context.Context, string) ([]string, error) { return nil, nil }
func (r fakeRegistry) Values(_ context.Context, key string) (map[string]winreg.Value, error) {
	if key != config.RegistryKey || r == nil {
		return nil, fs.ErrNotExist
	}
	return r, nil
}

func sz(s string) winreg.Value { return winreg.Value{Type: winreg.TypeString, String: s} }

func TestAgentInfo(t *testing.T) {
	t.Parallel()
	marker := func(content string) *host.Host {
		dir := t.TempDir()
		p := filepath.Join(dir, "usr/share/roster-agent/install-method")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return &host.Host{OS: "linux", FS: os.DirFS(dir)}
	}
	tagged := config.Config{Enroll: &config.Enroll{Tags: []string{"site-a"}}}
	tests := []struct {
		name string
		h    *host.Host
		cfg  config.Config
		want wire.AgentInfo
	}{
		{"deb marker", marker("deb\n"), tagged, wire.AgentInfo{InstallMethod: "deb", Tags: []string{"site-a"}}},
		{"script marker", marker("script\n"), config.Config{}, wire.AgentInfo{InstallMethod: "script"}},
		{"unknown word", marker("apt-get\n"), config.Config{}, wire.AgentInfo{InstallMethod: "manual"}},
		{"no marker", &host.Host{OS: "linux", FS: os.DirFS(t.TempDir())}, config.Config{}, wire.AgentInfo{InstallMethod: "manual"}},
		{"windows msi", &host.Host{OS: "windows", FS: os.DirFS(t.TempDir()), Registry: fakeRegistry{"InstallMethod": sz("MSI"), "Tags": sz("site-b, lab")}},
			config.Config{}, wire.AgentInfo{InstallMethod: "msi", Tags: []string{"site-b", "lab"}}},
		{"windows file tags win", &host.Host{OS: "windows", FS: os.DirFS(t.TempDir()), Registry: fakeRegistry{"InstallMethod": sz("msi"), "Tags": sz("site-b")}},
			tagged, wire.AgentInfo{InstallMethod: "msi", Tags: []string{"site-a"}}},
		{"windows no key", &host.Host{OS: "windows", FS: os.DirFS(t.TempDir()), Registry: fakeRegistry(nil)}, config.Config{}, wire.AgentInfo{InstallMethod: "manual"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := agentInfo(context.Background(), tt.h, tt.cfg)
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("agentInfo (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadPreseed: where each part of the enrolment comes from.
func TestLoadPreseed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := "sha256:" + strings.Repeat("ab", 32)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == config.SecretEnv {
				return v
			}
			return ""
		}
	}
	win := func(r fakeRegistry) *host.Host { return &host.Host{OS: "windows", Registry: r} }
	linux := &host.Host{OS: "linux"}
	section := &config.Enroll{Collector: "https://a.example:8443", CAFingerprint: pin, SecretFile: secretFile}
	tests := []struct {
		name           string
		h              *host.Host
		cfg            config.Config
		getenv         func(string) string
		wantSecret     string
		wantFrom       string
		wantConfigured bool
		wantReady      string
	}{
		{"file", linux, config.Config{Enroll: section}, env("from-env"), "from-file", secretFromFile, true, ""},
		{"env when the file is gone", linux, config.Config{Enroll: &config.Enroll{Collector: "https://a.example:8443", CAFingerprint: pin, SecretFile: filepath.Join(dir, "gone")}}, env("from-env"), "from-env", secretFromEnv, true, ""},
		{"nothing", linux, config.Config{}, env(""), "", "", false, "add an enroll section"},
		{"no secret", linux, config.Config{Enroll: &config.Enroll{Collector: "https://a.example:8443", CAFingerprint: pin}}, env(""), "", "", true, "needs an enrolment secret in enroll.secret_file or ROSTER_ENROLL_SECRET"},
		{"no pin, no collector", linux, config.Config{Enroll: &config.Enroll{}}, env("x"), "x", secretFromEnv, true, "needs enroll.collector, enroll.ca_fingerprint"},
		{"top-level collector", linux, config.Config{Collector: "https://b.example:8443", Enroll: &config.Enroll{CAFingerprint: pin}}, env("x"), "x", secretFromEnv, true, ""},
		{"registry", win(fakeRegistry{"CollectorURL": sz("https://a.example:8443"), "CAFingerprint": sz(pin), "Secret": sz("from-reg")}), config.Config{}, env(""), "from-reg", secretFromRegistry, true, ""},
		{"registry secret file", win(fakeRegistry{"CollectorURL": sz("https://a.example:8443"), "CAFingerprint": sz(pin), "SecretFile": sz(secretFile), "Secret": sz("from-reg")}), config.Config{}, env(""), "from-file", secretFromFile, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadPreseed(context.Background(), tt.h, tt.cfg, tt.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if p.secret != tt.wantSecret || p.secretFrom != tt.wantFrom || p.configured != tt.wantConfigured {
				t.Errorf("secret %q from %q, configured %v; want %q from %q, %v", p.secret, p.secretFrom, p.configured, tt.wantSecret, tt.wantFrom, tt.wantConfigured)
			}
			err = p.ready("/etc/roster/agent.yaml")
			if tt.wantReady == "" && err != nil || tt.wantReady != "" && (err == nil || !strings.Contains(err.Error(), tt.wantReady)) {
				t.Errorf("ready: %v, want %q", err, tt.wantReady)
			}
		})
	}
}
