package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/transport/transporttest"
	"github.com/rosterhq/roster/agent/wipe/wipetest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestReportOnceCarriesOutWipe drives a wipe by hand as a technician or
// an end-to-end script would: report --once with a config file naming
// wipe.allow and a target. Without wipe.allow the command is refused and
// the volume untouched; with it (root only: a LUKS2 volume on a loop
// device) the command completes before report exits and the volume has
// no keyslot left.
func TestReportOnceCarriesOutWipe(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			if allow {
				wipetest.Need(t)
			}
			c := transporttest.NewCollector(t, "s3cret", false)
			dir := t.TempDir()
			target := "/dev/roster-test-none"
			var vol wipetest.Volume
			if allow {
				vol = wipetest.NewVolume(t, "luks2", 1)
				target = vol.Dev
			}
			cfg := filepath.Join(dir, "agent.yaml")
			body := fmt.Sprintf("transport: https\nstate_dir: %s\nwipe:\n  allow: %v\n  targets: [%s]\n", filepath.Join(dir, "state"), allow, target)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run(t, "enroll", "--collector", c.URL, "--secret", "s3cret", "--ca-fingerprint", c.CA.Fingerprint(),
				"--host-root", captured, "--config", cfg)
			if code != 0 {
				t.Fatalf("enroll exit %d: %s", code, stderr)
			}
			id := strings.TrimSpace(stdout)
			now := time.Now().UTC()
			c.Queue(id, c.Sign(t, wire.Command{ID: "w1", Kind: wire.CommandWipe, DeviceID: id, Nonce: "n1",
				IssuedAt: now, ExpiresAt: now.Add(time.Hour), Wipe: &wire.WipeCommand{Method: "crypto_erase", Ticket: "HR-1"}}))

			code, stdout, stderr = run(t, "report", "--once", "--json", "--host-root", captured, "--config", cfg)
			if code != 0 {
				t.Fatalf("report exit %d: %s", code, stderr)
			}
			var res struct {
				Status   string `json:"status"`
				Commands []struct {
					CommandID string `json:"command_id"`
					Status    string `json:"status"`
					Reason    string `json:"reason"`
				} `json:"commands"`
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("report output %q: %v", stdout, err)
			}
			var got []string
			for _, o := range res.Commands {
				got = append(got, o.CommandID+" "+o.Status)
			}
			var sent []string
			for _, s := range c.Statuses() {
				sent = append(sent, s.Status)
			}
			want := []string{"w1 refused"}
			wantSent := []string{"refused"}
			if allow {
				want = []string{"w1 delivered", "w1 in_progress", "w1 completed"}
				wantSent = []string{"delivered", "in_progress", "completed"}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("report's commands (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantSent, sent); diff != "" {
				t.Errorf("statuses the collector got (-want +got):\n%s", diff)
			}
			if !allow {
				if !strings.Contains(res.Commands[0].Reason, "wipe.allow") {
					t.Errorf("reason %q, want it to name wipe.allow", res.Commands[0].Reason)
				}
				return
			}
			if h := vol.Dump(t); h.Version != 2 || h.ActiveKeyslots() != 0 || vol.Opens() {
				t.Errorf("after the wipe: luksDump %+v, opens %v; want LUKS2 with no keyslot, not opening", h, vol.Opens())
			}
		})
	}
}
