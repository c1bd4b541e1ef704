package main

// The issue-5 compliance end-to-end test: the real roster-collector with a
// policy file, a webhook and the test clock; the real roster-agent on this
// machine (a VM whose root /dev/vda is not encrypted); rosterctl for the
// register, exceptions and the helpdesk view; and a webhook receiver on
// loopback that checks every delivery's signature with webhook.Verify.

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
	"github.com/rosterhq/roster/collector/webhook"
)

const e2ePolicies = `policies:
  - id: E2E-ENC-01
    title: All fixed volumes encrypted on confidential assets
    severity: high
    scope:
      classifications: [confidential]
    kind: disk_encryption
    params:
      scope: all_fixed
`

// receiver is a webhook endpoint that keeps what it verified.
type receiver struct {
	secret string
	// offset is how far the collector's test clock is ahead: its
	// signatures carry its time, which a receiver compares with its own.
	// A wrong signature is refused whatever the time.
	offset atomic.Int64
	mu     sync.Mutex
	got    []webhook.Event
	bad    int
	notify chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// A delivery signed just before the test moved the clock may arrive
	// just after: either clock is the collector's.
	sig, ts := r.Header.Get(webhook.HeaderSignature), r.Header.Get(webhook.HeaderTimestamp)
	err = webhook.Verify(rc.secret, sig, ts, body, time.Now(), 0)
	if off := time.Duration(rc.offset.Load()); err != nil && off != 0 {
		err = webhook.Verify(rc.secret, sig, ts, body, time.Now().Add(off), 0)
	}
	if err != nil {
		rc.mu.Lock()
		rc.bad++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID       string          `json:"id"`
		Kind     string          `json:"kind"`
		DeviceID string          `json:"device_id"`
		AssetTag string          `json:"asset_tag"`
		Subject  string          `json:"subject"`
		Data     json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Kind != r.Header.Get(webhook.HeaderEvent) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, webhook.Event{ID: ev.ID, Kind: ev.Kind, DeviceID: ev.DeviceID, AssetTag: ev.AssetTag, Subject: ev.Subject, Data: ev.Data})
	rc.mu.Unlock()
	select {
	case rc.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until the receiver holds an event satisfying ok; the
// deadline is a failure bound, not a synchronisation delay.
func (rc *receiver) waitFor(t *testing.T, what string, ok func(webhook.Event) bool) webhook.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		rc.mu.Lock()
		i := slices.IndexFunc(rc.got, ok)
		var ev webhook.Event
		if i >= 0 {
			ev = rc.got[i]
		}
		kinds := make([]string, 0, len(rc.got))
		for _, e := range rc.got {
			kinds = append(kinds, e.Kind)
		}
		rc.mu.Unlock()
		if i >= 0 {
			return ev
		}
		select {
		case <-rc.notify:
		case <-deadline:
			t.Fatalf("webhook receiver: no %s within a minute; got %v", what, kinds)
		}
	}
}

func TestComplianceEndToEnd(t *testing.T) {
	rc := &receiver{secret: "e2e-webhook-secret", notify: make(chan struct{}, 1)}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policies := write("policies.yaml", e2ePolicies)
	secretFile := write("hook.secret", rc.secret+"\n")
	cfg := write("collector.yaml", "compliance:\n  policies: "+policies+"\nwebhooks:\n  - id: e2e\n    url: "+hook.URL+
		"\n    secret_file: "+secretFile+"\n    events: [\"compliance.*\", \"device.*\"]\n")
	c := collectortest.Start(t, collectorBin, collectortest.Options{Args: []string{"--config", cfg, "--unsafe-test-clock", "--http3=false"}})
	ctl := func(args ...string) string {
		t.Helper()
		out, errOut, code := rosterctl(t, c, c.AdminToken, args...)
		if code != 0 {
			t.Fatalf("rosterctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	var secret struct {
		Secret string `json:"secret"`
	}
	decodeJSON(t, "secrets create", ctl("secrets", "create", "--label", "e2e", "--expires", "1h", "--json"), &secret)
	base := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--transport", "https"}
	out, errOut, code := agent(t, append([]string{"enroll", "--collector", c.URL, "--secret", secret.Secret, "--ca-fingerprint", c.Fingerprint, "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errOut)
	}
	var enrolled struct {
		DeviceID string `json:"device_id"`
	}
	decodeJSON(t, "enroll", out, &enrolled)
	id := enrolled.DeviceID
	report := func() {
		t.Helper()
		if _, errOut, code := agent(t, append([]string{"report", "--once", "--json"}, base...)...); code != 0 {
			t.Fatalf("report: exit %d: %s", code, errOut)
		}
	}

	type result struct {
		PolicyID    string `json:"policy_id"`
		Status      string `json:"status"`
		Reason      string `json:"reason"`
		ExceptionID string `json:"exception_id"`
	}
	type device struct {
		Flags      []string `json:"flags"`
		MACs       []string `json:"macs"`
		Compliance struct {
			State   string   `json:"state"`
			Results []result `json:"results"`
		} `json:"compliance"`
		Exceptions []struct {
			ID string `json:"id"`
		} `json:"exceptions"`
		RecentChanges []json.RawMessage `json:"recent_changes"`
	}
	show := func() (device, result) {
		t.Helper()
		var d device
		decodeJSON(t, "devices show", ctl("devices", "show", id, "--json"), &d)
		if len(d.Compliance.Results) != 1 {
			t.Fatalf("devices show: results %+v, want E2E-ENC-01 only", d.Compliance.Results)
		}
		return d, d.Compliance.Results[0]
	}

	// 1. The agent reports; the device is in no register: unregistered,
	// and the policy cannot tell whether it is confidential.
	report()
	d, r := show()
	if !slices.Contains(d.Flags, "unregistered") || r.Status != "unknown" || !strings.Contains(r.Reason, "classification") {
		t.Fatalf("first report: flags %v, result %+v; want unregistered and unknown for lack of a classification", d.Flags, r)
	}
	if len(d.RecentChanges) == 0 {
		t.Error("devices show: no recent changes (the enrolment at least)")
	}
	rc.waitFor(t, "device.unregistered", func(e webhook.Event) bool { return e.Kind == webhook.KindDeviceUnregistered && e.DeviceID == id })

	// 2. The register is imported: the VM (no serial or UUID) links by MAC,
	// as a confidential asset. The flag clears.
	if len(d.MACs) == 0 {
		t.Fatal("the live device reported no MAC to link by")
	}
	register := write("register.csv", "asset_tag,serial,type,owner,classification,status\nVM-0001,"+d.MACs[0]+",vm,Platform Team,confidential,in_service\n")
	ctl("assets", "import", register)
	d, _ = show()
	if slices.Contains(d.Flags, "unregistered") {
		t.Fatalf("after the import: flags %v, want unregistered cleared", d.Flags)
	}

	// 3. The next report is judged as a confidential asset: root /dev/vda
	// is not encrypted. (It also turns the register's flag history into
	// events, as the periodic evaluation would.)
	report()
	rc.waitFor(t, "device.flag_cleared", func(e webhook.Event) bool { return e.Kind == webhook.KindDeviceFlagCleared && e.DeviceID == id })
	d, r = show()
	if r.Status != "fail" || !strings.Contains(r.Reason, "not encrypted") || d.Compliance.State != "fail" {
		t.Fatalf("as a confidential asset: state %s, result %+v; want fail, not encrypted", d.Compliance.State, r)
	}
	rc.waitFor(t, "compliance.changed to fail", func(e webhook.Event) bool {
		return e.Kind == webhook.KindComplianceChanged && e.DeviceID == id && bytes.Contains(e.Data, []byte(`"state":"fail"`))
	})

	// 4. An exception (by asset tag) is requested pending and exempts
	// nothing; its requester cannot approve it; once another admin
	// approves it, it makes the device exempt at once.
	var ex struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Approver string `json:"approver"`
	}
	decodeJSON(t, "exceptions request", ctl("exceptions", "request", "--asset", "VM-0001", "--policy", "E2E-ENC-01", "--reason", "build VM, no user data",
		"--control", "ephemeral disk wiped at shutdown", "--expires", "2d", "--json"), &ex)
	if _, r = show(); ex.Status != "pending" || r.Status != "fail" {
		t.Fatalf("with a pending exception %+v: result %+v; want it to exempt nothing", ex, r)
	}
	if _, errOut, code := rosterctl(t, c, c.AdminToken, "exceptions", "approve", ex.ID); code == 0 || !strings.Contains(errOut, "someone else") {
		t.Fatalf("the requester approving her own exception: exit %d: %s; want refused", code, errOut)
	}
	approver := strings.TrimSpace(c.Run(t, "token", "create", "--data", c.DataDir, "--role", "admin", "--name", "e2e-approver"))
	approved, errOut, code := rosterctl(t, c, approver, "exceptions", "approve", ex.ID, "--note", "SEC-42", "--json")
	if code != 0 {
		t.Fatalf("exceptions approve by another admin: exit %d: %s", code, errOut)
	}
	decodeJSON(t, "exceptions approve", approved, &ex)
	d, r = show()
	if ex.Status != "active" || ex.Approver != "e2e-approver" || r.Status != "exempt" || r.ExceptionID != ex.ID || len(d.Exceptions) != 1 || d.Exceptions[0].ID != ex.ID {
		t.Fatalf("with exception %+v: result %+v, open exceptions %+v; want exempt by it", ex, r, d.Exceptions)
	}
	rc.waitFor(t, "compliance.changed to exempt", func(e webhook.Event) bool {
		return e.Kind == webhook.KindComplianceChanged && bytes.Contains(e.Data, []byte(`"state":"exempt"`))
	})
	if out := ctl("exceptions", "list", "--active"); !strings.Contains(out, ex.ID) {
		t.Errorf("exceptions list --active: %s, want %s", out, ex.ID)
	}

	// 5. Three days later (test clock) the exception has expired and the
	// device fails again by itself: no report, no person.
	rc.offset.Store(int64(3 * 24 * time.Hour))
	moveClock(t, c, "3d")
	d, r = show()
	if r.Status != "fail" || r.ExceptionID != "" || len(d.Exceptions) != 0 {
		t.Fatalf("after the expiry: result %+v, open exceptions %+v; want fail and none", r, d.Exceptions)
	}
	rc.waitFor(t, "compliance.changed back to fail", func(e webhook.Event) bool {
		return e.Kind == webhook.KindComplianceChanged && bytes.Contains(e.Data, []byte(`"previous_state":"exempt"`)) && bytes.Contains(e.Data, []byte(`"state":"fail"`))
	})

	// The summary and the events API agree.
	var sum struct {
		ByState  map[string]int `json:"by_state"`
		Policies []struct {
			ID     string         `json:"id"`
			Counts map[string]int `json:"counts"`
		} `json:"policies"`
	}
	decodeJSON(t, "compliance summary", ctl("compliance", "summary", "--json"), &sum)
	if sum.ByState["fail"] != 1 || len(sum.Policies) != 1 || sum.Policies[0].Counts["fail"] != 1 {
		t.Errorf("compliance summary %+v, want one failing device on E2E-ENC-01", sum)
	}
	var evs struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	decodeJSON(t, "events", ctl("events", "--kind", "compliance.changed", "--device", id, "--json"), &evs)
	if len(evs.Items) < 4 {
		t.Errorf("events: %d compliance.changed for the device, want at least 4 (unknown, fail, exempt, fail)", len(evs.Items))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 {
		t.Errorf("the receiver refused %d deliveries with bad signatures", rc.bad)
	}
}

// moveClock sets the collector's test clock offset.
func moveClock(t *testing.T, c *collectortest.Collector, offset string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, c.CAFile), MinVersion: tls.VersionTLS13}}}
	req, err := http.NewRequest(http.MethodPut, c.URL+"/api/v1/test/clock", strings.NewReader(`{"offset":"`+offset+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /api/v1/test/clock: %d %s", resp.StatusCode, body)
	}
}
