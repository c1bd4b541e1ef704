package main

// End-to-end tests of the real roster-agent binary: built once, run as a
// process against the captured hosts under testdata/hosts and against this
// machine.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/host/hosttest"
	"github.com/rosterhq/roster/agent/inventory"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

var agentBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "roster-agent-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "roster-agent")
	build := exec.Command("go", "build", "-o", agentBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build roster-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr []byte
}

func runAgent(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run roster-agent %v: %v", args, err)
	}
	return result{code, stdout.Bytes(), stderr.Bytes()}
}

// normalise zeroes what differs between two runs on an unchanged host: the
// collection time and the probe durations.
func normalise(t *testing.T, raw []byte) *wire.Snapshot {
	t.Helper()
	var s wire.Snapshot
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decode snapshot: %v\n%s", err, raw)
	}
	s.CollectedAt = time.Time{}
	for i := range s.Probes {
		s.Probes[i].DurationMS = 0
	}
	return &s
}

func encode(t *testing.T, s *wire.Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCapturedHosts runs the binary on every captured host and compares the
// snapshot with the host's want.json. UPDATE_GOLDEN=1 rewrites them.
func TestCapturedHosts(t *testing.T) {
	hosts, err := filepath.Glob("../../testdata/hosts/*/*")
	if err != nil {
		t.Fatal(err)
	}
	perOS := map[string]int{}
	for _, dir := range hosts {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		goos := filepath.Base(filepath.Dir(dir))
		perOS[goos]++
		t.Run(goos+"/"+filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			root := hostRoot(t, dir)
			r := runAgent(t, "inventory", "--os", goos, "--host-root", root, "--pretty")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := encode(t, normalise(t, r.stdout))
			golden := filepath.Join(dir, "want.json")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (UPDATE_GOLDEN=1 writes it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("snapshot differs from %s (-want +got):\n%s", golden, diff)
			}
			checkCapturesDeclared(t, goos, root)
		})
	}
	for goos, min := range map[string]int{"linux": 3, "darwin": 2, "windows": 2} {
		if perOS[goos] < min {
			t.Errorf("%d captured %s hosts, want at least %d", perOS[goos], goos, min)
		}
	}
}

// hostRoot returns the tree to pass as --host-root: the host folder itself,
// or, when it holds root.tar.gz, that archive unpacked. Linux captures are
// archived because sysfs paths contain ':', which Go module zips refuse.
func hostRoot(t *testing.T, dir string) string {
	t.Helper()
	archive := filepath.Join(dir, "root.tar.gz")
	if _, err := os.Stat(archive); err != nil {
		return dir
	}
	return hosttest.UnpackTemp(t, archive)
}

// checkCapturesDeclared fails when a captured host holds the output of a
// command no probe runs: a stale capture that tests nothing.
func checkCapturesDeclared(t *testing.T, goos, dir string) {
	t.Helper()
	probes, err := inventory.Probes(goos)
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := filepath.Glob(filepath.Join(dir, "commands", "*.out"))
	for _, o := range outs {
		slug := strings.TrimSuffix(filepath.Base(o), ".out")
		found := false
		for _, decl := range probe.Commands(probes) {
			if declaredSlugMatches(decl, slug) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no %s probe runs this command", o, goos)
		}
	}
}

func declaredSlugMatches(decl, slug string) bool {
	if !strings.Contains(decl, "<") {
		return host.Slug(decl) == slug
	}
	// A <placeholder> word matches one slugged argument: compare prefixes.
	prefix, _, _ := strings.Cut(decl, "<")
	return strings.HasPrefix(slug, host.Slug(prefix))
}

func TestListCommands(t *testing.T) {
	t.Parallel()
	for _, goos := range inventory.Platforms() {
		r := runAgent(t, "inventory", "--os", goos, "--list-commands")
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", goos, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(string(r.stdout)), "\n")
		if len(lines) < 2 || !slices.IsSorted(lines) {
			t.Errorf("%s: --list-commands printed %q, want a sorted list of several command lines", goos, lines)
		}
	}
}

func TestBadUsage(t *testing.T) {
	t.Parallel()
	other := "windows"
	if runtime.GOOS == "windows" {
		other = "linux"
	}
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"inventory", "--os", "plan9"}, 2, `unknown platform "plan9"`},
		{[]string{"inventory", "--only", "hardware,firmware"}, 2, `unknown area "firmware"`},
		{[]string{"inventory", "--os", other}, 2, "needs --host-root"},
		{[]string{"inventory", "--host-root", "/nonexistent/roster"}, 1, "open captured host"},
		{[]string{"inventory", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{nil, 2, "Usage"},
	}
	for _, tt := range tests {
		r := runAgent(t, tt.args...)
		if r.code != tt.code || !strings.Contains(string(r.stderr), tt.msg) {
			t.Errorf("roster-agent %v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, r.code, r.stderr, tt.code, tt.msg)
		}
	}
}

// TestLiveInventory runs the binary on this machine: all four areas come
// back and no probe fails.
func TestLiveInventory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the live test runs on Linux CI")
	}
	t.Parallel()
	r := runAgent(t, "inventory")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	s := normalise(t, r.stdout)
	if s.Hardware == nil || s.Encryption == nil || s.OS == nil || s.Software == nil {
		t.Fatalf("missing area: hardware=%v encryption=%v os=%v software=%v", s.Hardware != nil, s.Encryption != nil, s.OS != nil, s.Software != nil)
	}
	for _, p := range s.Probes {
		if p.Status == wire.ProbeError {
			t.Errorf("probe %s failed on this machine: %s", p.Name, p.Message)
		}
	}
	if s.Captured || s.Platform != "linux" {
		t.Errorf("captured=%v platform=%s, want a live linux snapshot", s.Captured, s.Platform)
	}
}

// TestCaptureReplay captures this machine with --capture and replays the
// capture with --host-root: the same probe code must give the same snapshot.
func TestCaptureReplay(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the live test runs on Linux CI")
	}
	t.Parallel()
	dir := t.TempDir()
	live := runAgent(t, "inventory", "--capture", dir)
	if live.code != 0 {
		t.Fatalf("live: exit %d: %s", live.code, live.stderr)
	}
	replay := runAgent(t, "inventory", "--os", "linux", "--host-root", dir)
	if replay.code != 0 {
		t.Fatalf("replay: exit %d: %s", replay.code, replay.stderr)
	}
	a, b := normalise(t, live.stdout), normalise(t, replay.stdout)
	if !b.Captured {
		t.Error("replayed snapshot not marked captured")
	}
	b.Captured = false
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("replay of the capture differs from the live run (-live +replay):\n%s", diff)
	}
}
