package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/state"
	"github.com/rosterhq/roster/agent/transport/transporttest"
)

// captured is a real host capture, so the tests do not depend on the
// machine they run on and their identities differ from it.
const captured = "../../testdata/hosts/linux/dell-r6515-centos7"

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Version: "test", GOOS: "linux"})
	return code, out.String(), errb.String()
}

func TestAgentCommandFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	pin := "sha256:" + strings.Repeat("ab", 32)
	col := "https://127.0.0.1:8443"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"enroll without collector", []string{"enroll", "--state-dir", stateDir}, 2, "--collector is required"},
		{"enroll with http", []string{"enroll", "--collector", "http://127.0.0.1:8443", "--secret", "s", "--ca-fingerprint", pin}, 2, `must start with https://`},
		{"enroll without secret", []string{"enroll", "--collector", col, "--ca-fingerprint", pin}, 2, "--secret is required"},
		{"enroll without trust", []string{"enroll", "--collector", col, "--secret", "s"}, 2, "--ca-fingerprint or --ca-file is required"},
		{"enroll with both trusts", []string{"enroll", "--collector", col, "--secret", "s", "--ca-fingerprint", pin, "--ca-file", "x.pem"}, 2, "give --ca-fingerprint or --ca-file, not both"},
		{"enroll with bad fingerprint", []string{"enroll", "--collector", col, "--secret", "s", "--ca-fingerprint", "abcd"}, 2, `--ca-fingerprint: fingerprint "abcd" must start with "sha256:"`},
		{"enroll with missing CA file", []string{"enroll", "--collector", col, "--secret", "s", "--ca-file", filepath.Join(dir, "none.pem")}, 2, "--ca-file: open"},
		{"enroll with missing config", []string{"enroll", "--config", filepath.Join(dir, "none.yaml"), "--collector", col}, 2, "read config: open"},
		{"enroll with bad transport", []string{"enroll", "--transport", "quic", "--collector", col, "--secret", "s", "--ca-fingerprint", pin}, 2, `transport: "quic" is not auto, http3 or https`},
		{"enroll with extra argument", []string{"enroll", "now"}, 2, `unexpected argument "now"`},
		{"report without --once", []string{"report", "--state-dir", stateDir}, 2, "--once is required"},
		{"report with unknown skip", []string{"report", "--once", "--state-dir", stateDir, "--skip", "os/nothing"}, 2, `no linux probe is called "os/nothing"`},
		{"report before enrolment", []string{"report", "--once", "--state-dir", stateDir, "--host-root", captured}, 1, "not enrolled: run roster-agent enroll first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.wantErr)
			}
		})
	}
}

type reportOut struct {
	Status, Kind, Hash, Transport, DeviceID, Collector string
	Seq                                                uint64
	Renewed                                            bool
}

func report(t *testing.T, args ...string) reportOut {
	t.Helper()
	code, stdout, stderr := run(t, append([]string{"report", "--once", "--json", "--host-root", captured}, args...)...)
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, stderr)
	}
	var r struct {
		Status    string `json:"status"`
		Seq       uint64 `json:"seq"`
		Kind      string `json:"kind"`
		Hash      string `json:"hash"`
		DeviceID  string `json:"device_id"`
		Transport string `json:"transport"`
		Collector string `json:"collector"`
		Renewed   bool   `json:"renewed"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("report output %q: %v", stdout, err)
	}
	return reportOut{Status: r.Status, Kind: r.Kind, Hash: r.Hash, Transport: r.Transport, DeviceID: r.DeviceID, Collector: r.Collector, Seq: r.Seq, Renewed: r.Renewed}
}

// TestEnrollAndReport runs the commands as scripts would against a fake
// collector: enrol, a full report, a delta, a resync answered in full, and
// a revoked certificate; over HTTPS (chosen in the config file) and over
// HTTP/3 (auto).
func TestEnrollAndReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		h3            bool
		wantTransport string
	}{
		{"https from config", false, "https"},
		{"http3 auto", true, "h3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := transporttest.NewCollector(t, "s3cret", tt.h3)
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			var common []string
			if tt.h3 {
				common = []string{"--state-dir", stateDir}
			} else {
				cfg := filepath.Join(dir, "agent.yaml")
				if err := os.WriteFile(cfg, []byte("transport: https\nstate_dir: "+stateDir+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				common = []string{"--config", cfg}
			}

			code, stdout, stderr := run(t, append([]string{"enroll", "--collector", c.URL, "--secret", "s3cret",
				"--ca-fingerprint", c.CA.Fingerprint(), "--json", "--host-root", captured}, common...)...)
			if code != 0 {
				t.Fatalf("enroll exit %d: %s", code, stderr)
			}
			var enrolled map[string]any
			if err := json.Unmarshal([]byte(stdout), &enrolled); err != nil {
				t.Fatalf("enroll output %q: %v", stdout, err)
			}
			id, _ := enrolled["device_id"].(string)
			if diff := cmp.Diff(map[string]any{"device_id": id, "collector": c.URL, "re_enrolled": false}, enrolled); diff != "" || id == "" {
				t.Errorf("enroll --json (-want +got):\n%s", diff)
			}

			first := report(t, common...)
			if want := (reportOut{Status: "applied", Kind: "full", Seq: 1, Transport: tt.wantTransport, DeviceID: id, Collector: c.URL, Hash: first.Hash}); first != want {
				t.Errorf("first report %+v, want %+v", first, want)
			}
			second := report(t, common...)
			if second.Kind != "delta" || second.Seq != 2 || second.Status != "applied" {
				t.Errorf("second report %+v, want an applied delta seq 2", second)
			}
			if got, _ := c.Snapshot(id).CollectedAt.MarshalText(); second.Hash == first.Hash || len(got) == 0 {
				t.Errorf("collector did not move to the second snapshot")
			}

			c.ForgetBase(id)
			third := report(t, common...)
			if third.Kind != "full" || third.Seq != 4 || third.Status != "applied" {
				t.Errorf("report after resync %+v, want an applied full report seq 4", third)
			}
			var kinds []string
			for _, r := range c.Requests() {
				if r.Path == ReportPath {
					kinds = append(kinds, r.Kind)
				}
			}
			if diff := cmp.Diff([]string{"full", "delta", "delta", "full"}, kinds); diff != "" {
				t.Errorf("reports sent (-want +got):\n%s", diff)
			}

			c.Revoke(id)
			code, _, stderr = run(t, append([]string{"report", "--once", "--host-root", captured}, common...)...)
			if code != 1 || !strings.Contains(stderr, "certificate_revoked") || !strings.Contains(stderr, "enrol it again") {
				t.Errorf("revoked: exit %d, stderr %q; want 1 and a message saying so", code, stderr)
			}
		})
	}
}

// TestReportRenews: once two thirds of the certificate's life have passed,
// report renews it before sending.
func TestReportRenews(t *testing.T) {
	t.Parallel()
	c := transporttest.NewCollector(t, "s3cret", false)
	c.Backdate(61 * 24 * time.Hour) // of 90 days
	stateDir := filepath.Join(t.TempDir(), "state")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, c.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "enroll", "--collector", c.URL, "--secret", "s3cret", "--ca-file", caFile,
		"--state-dir", stateDir, "--transport", "https", "--host-root", captured)
	if code != 0 {
		t.Fatalf("enroll exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(stdout)
	dir, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	_, before, _, _ := dir.Credentials()

	got := report(t, "--state-dir", stateDir, "--transport", "https")
	if !got.Renewed || got.Status != "applied" || got.DeviceID != id {
		t.Errorf("report %+v, want renewed and applied for %s", got, id)
	}
	_, after, _, _ := dir.Credentials()
	if bytes.Equal(before, after) {
		t.Error("certificate unchanged after renewal")
	}
	// The fresh certificate is not renewed again.
	if again := report(t, "--state-dir", stateDir, "--transport", "https"); again.Renewed {
		t.Errorf("renewed again with a fresh certificate")
	}
}
