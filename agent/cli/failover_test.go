package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/service"
	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// TestSeveralCollectors runs the commands against two instances of one
// collector: enrolment with the first down goes to the second, reports
// stay with it across runs, go back to the first after failback_interval,
// and status names the collector in use and the list.
func TestSeveralCollectors(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	a, b := c.NewInstance(t), c.NewInstance(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	common := []string{"--state-dir", stateDir, "--transport", "https"}

	a.Stop()
	// The flag repeated and comma-separated, in one command.
	code, stdout, stderr := run(t, append([]string{"enroll", "--collector", a.URL + "," + b.URL, "--secret", "s3cret",
		"--ca-fingerprint", c.CA.Fingerprint(), "--json", "--host-root", captured}, common...)...)
	if code != 0 {
		t.Fatalf("enroll exit %d: %s", code, stderr)
	}
	var enrolled struct {
		Collector  string   `json:"collector"`
		Collectors []string `json:"collectors"`
	}
	if err := json.Unmarshal([]byte(stdout), &enrolled); err != nil {
		t.Fatal(err)
	}
	if enrolled.Collector != b.URL || !slices.Equal(enrolled.Collectors, []string{a.URL, b.URL}) {
		t.Errorf("enrolled with %s of %v, want %s of [%s %s]", enrolled.Collector, enrolled.Collectors, b.URL, a.URL, b.URL)
	}

	// No --collector: the enrolled list, starting with the second since
	// the first did not answer.
	if r := report(t, common...); r.Collector != b.URL || r.Status != "applied" || r.Seq != 1 {
		t.Errorf("first report %+v, want applied seq 1 by %s", r, b.URL)
	}
	a.Start(t)
	if r := report(t, common...); r.Collector != b.URL || r.Seq != 2 {
		t.Errorf("report with the first back, within failback_interval: %+v, want seq 2 by %s", r, b.URL)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("failback_interval: 1ns\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := report(t, append(common, "--config", cfg)...); r.Collector != a.URL || r.Seq != 3 {
		t.Errorf("report after failback_interval: %+v, want seq 3 by %s", r, a.URL)
	}
	var seqs []uint64
	for _, r := range c.Requests() {
		if r.Path == ReportPath && r.Status == 200 {
			seqs = append(seqs, r.Seq)
		}
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Errorf("reports the collectors took: %v, want [1 2 3]", seqs)
	}

	code, stdout, stderr = runSvc(t, &fakeManager{state: service.StateStopped}, "status", "--json", "--state-dir", stateDir)
	if code != exitNotRunning {
		t.Fatalf("status exit %d: %s", code, stderr)
	}
	var st state.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Collectors, []string{a.URL, b.URL}) {
		t.Errorf("status collectors %v, want [%s %s]", st.Collectors, a.URL, b.URL)
	}
	code, stdout, _ = runSvc(t, &fakeManager{state: service.StateStopped}, "status", "--state-dir", stateDir)
	if code != exitNotRunning || !strings.Contains(stdout, "collectors:     "+a.URL+", "+b.URL) {
		t.Errorf("status exit %d:\n%s\nwant the collectors line", code, stdout)
	}
}

// TestCollectorFlagChecked: each URL of --collector is checked.
func TestCollectorFlagChecked(t *testing.T) {
	t.Parallel()
	code, _, stderr := run(t, "enroll", "--collector", "https://a.example:8443", "--collector", "http://b.example:8443",
		"--secret", "x", "--ca-fingerprint", "sha256:00", "--state-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, `collectors[1]: "http://b.example:8443" must start with https://`) {
		t.Errorf("exit %d, stderr %q; want 2 naming the second URL", code, stderr)
	}
}
