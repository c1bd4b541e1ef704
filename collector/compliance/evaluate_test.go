package compliance

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const encPolicy = "kind: disk_encryption\nparams:\n  scope: system\ngrace_days: 3\nvalidity_days: 5"

func TestExceptionExpiryBoundary(t *testing.T) {
	t.Parallel()
	now := testNow()
	exc := func(id string, expires time.Time, mod func(*Exception)) Exception {
		e := Exception{ID: id, PolicyID: "TST-X-01", DeviceID: "dev-linux/debian12-firecracker-vm",
			ExpiresAt: expires, Reason: "rebuild planned", Approver: "ciso"}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	tests := []struct {
		name       string
		exceptions []Exception
		asset      *AssetFacts
		status     string
		exceptID   string
	}{
		{"valid one nanosecond more", []Exception{exc("E1", now.Add(time.Nanosecond), nil)}, nil, StatusExempt, "E1"},
		{"expires exactly now", []Exception{exc("E1", now, nil)}, nil, StatusFail, ""},
		{"expired", []Exception{exc("E1", now.Add(-time.Hour), nil)}, nil, StatusFail, ""},
		{"other policy", []Exception{exc("E1", now.Add(time.Hour), func(e *Exception) { e.PolicyID = "TST-X-02" })}, nil, StatusFail, ""},
		{"other device", []Exception{exc("E1", now.Add(time.Hour), func(e *Exception) { e.DeviceID = "dev-2" })}, nil, StatusFail, ""},
		{"by asset tag", []Exception{exc("E1", now.Add(time.Hour), func(e *Exception) { e.DeviceID, e.AssetTag = "", "A-100" })},
			&AssetFacts{Tag: "A-100"}, StatusExempt, "E1"},
		{"by asset tag, unlinked device", []Exception{exc("E1", now.Add(time.Hour), func(e *Exception) { e.DeviceID, e.AssetTag = "", "A-100" })},
			nil, StatusFail, ""},
		{"longest of two", []Exception{exc("E1", now.Add(time.Hour), nil), exc("E2", now.Add(48*time.Hour), nil), exc("E3", now.Add(2*time.Hour), nil)},
			nil, StatusExempt, "E2"},
	}
	set := one(t, "kind: disk_encryption\nparams:\n  scope: system")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, "linux/debian12-firecracker-vm")
			in.Exceptions, in.Asset = tt.exceptions, tt.asset
			got := set.Evaluate(in)[0]
			if got.Status != tt.status || got.ExceptionID != tt.exceptID {
				t.Errorf("got %s %q (%s), want %s %q", got.Status, got.ExceptionID, got.Reason, tt.status, tt.exceptID)
			}
		})
	}
}

func TestExceptionValidate(t *testing.T) {
	t.Parallel()
	now := testNow()
	good := Exception{ID: "E1", PolicyID: "CFG-ENC-01", AssetTag: "A-1", ExpiresAt: now.Add(24 * time.Hour), Reason: "r", Approver: "a"}
	tests := []struct {
		name string
		mod  func(*Exception)
		want string
	}{
		{"ok", func(*Exception) {}, ""},
		{"both targets", func(e *Exception) { e.DeviceID = "d" }, "either a device id or an asset tag"},
		{"no target", func(e *Exception) { e.AssetTag = "" }, "either a device id or an asset tag"},
		{"no reason", func(e *Exception) { e.Reason = "" }, "reason is required"},
		{"no approver yet: a request", func(e *Exception) { e.Approver = "" }, ""},
		{"no expiry", func(e *Exception) { e.ExpiresAt = time.Time{} }, "expiry is required"},
		{"expires now", func(e *Exception) { e.ExpiresAt = now }, "is not in the future"},
		{"too long", func(e *Exception) { e.ExpiresAt = now.Add(91 * 24 * time.Hour) }, "more than 2160h0m0s away"},
		{"exactly the maximum", func(e *Exception) { e.ExpiresAt = now.Add(90 * 24 * time.Hour) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := good
			tt.mod(&e)
			err := e.Validate(now, 90*24*time.Hour)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestGraceAndStale(t *testing.T) {
	t.Parallel()
	now := testNow()
	day := 24 * time.Hour
	tests := []struct {
		name         string
		failingSince *time.Time
		lastSeen     time.Time
		status       string
		since        time.Time
	}{
		{"first failure starts grace", nil, now, StatusInGrace, now},
		{"failing 3 days less 1ns", ptr(now.Add(-3*day + time.Nanosecond)), now, StatusInGrace, now.Add(-3*day + time.Nanosecond)},
		{"failing exactly 3 days", ptr(now.Add(-3 * day)), now, StatusFail, now.Add(-3 * day)},
		{"failing 10 days", ptr(now.Add(-10 * day)), now, StatusFail, now.Add(-10 * day)},
		{"seen exactly 5 days ago is current", ptr(now.Add(-10 * day)), now.Add(-5 * day), StatusFail, now.Add(-10 * day)},
		{"seen 5 days and 1ns ago is stale, keeps failing-since", ptr(now.Add(-10 * day)), now.Add(-5*day - time.Nanosecond), StatusStale, now.Add(-10 * day)},
		{"never seen is stale", nil, time.Time{}, StatusStale, time.Time{}},
	}
	set := one(t, encPolicy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, "linux/debian12-firecracker-vm")
			in.LastSeen = tt.lastSeen
			if tt.failingSince != nil {
				in.FailingSince = map[string]time.Time{"TST-X-01": *tt.failingSince}
			}
			got := set.Evaluate(in)[0]
			if got.Status != tt.status || !got.FailingSince.Equal(tt.since) {
				t.Errorf("got %s since %v (%s), want %s since %v", got.Status, got.FailingSince, got.Reason, tt.status, tt.since)
			}
		})
	}
	t.Run("pass clears failing-since", func(t *testing.T) {
		t.Parallel()
		in := input(t, "darwin/macbookpro10-1-xml")
		in.FailingSince = map[string]time.Time{"TST-X-01": now.Add(-10 * day)}
		got := set.Evaluate(in)[0]
		if got.Status != StatusPass || !got.FailingSince.IsZero() {
			t.Errorf("got %s since %v, want pass with no failing-since", got.Status, got.FailingSince)
		}
	})
}

func TestScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, scope string
		asset             *AssetFacts
		status, reason    string
	}{
		{"platform out", "linux/debian12-firecracker-vm", "platforms: [darwin, windows]", nil, StatusNotApplicable, "platform linux is out of scope"},
		{"platform in", "darwin/macbookpro10-1-xml", "platforms: [darwin]", nil, StatusPass, ""},
		{"form factor used without asset", "darwin/macbookpro10-1-xml", "asset_types: [laptop]", nil, StatusPass, ""},
		{"form factor out", "linux/debian12-firecracker-vm", "asset_types: [laptop, desktop]", nil, StatusNotApplicable, "form factor vm is out of scope"},
		{"asset type wins over form factor", "linux/debian12-firecracker-vm", "asset_types: [laptop]", &AssetFacts{Tag: "A-1", Type: "laptop"}, StatusFail, ""},
		{"no type anywhere", "linux/alpine", "asset_types: [laptop]", nil, StatusUnknown,
			"scope needs the asset type: no asset type in the register and no form factor reported"},
		{"classification without asset", "linux/debian12-firecracker-vm", "classifications: [confidential]", nil, StatusUnknown,
			"scope needs the classification: the device is linked to no asset in the register"},
		{"classification unset", "linux/debian12-firecracker-vm", "classifications: [confidential]", &AssetFacts{Tag: "A-1"}, StatusUnknown,
			"scope needs the classification: asset A-1 has none"},
		{"classification out", "linux/debian12-firecracker-vm", "classifications: [confidential]", &AssetFacts{Tag: "A-1", Classification: "public"},
			StatusNotApplicable, "classification public is out of scope"},
		{"classification in", "linux/debian12-firecracker-vm", "classifications: [confidential, internal]", &AssetFacts{Tag: "A-1", Classification: "internal"}, StatusFail, ""},
		{"tags in", "linux/debian12-firecracker-vm", "tags: [pci, sox]", &AssetFacts{Tag: "A-1", Tags: []string{"dev", "sox"}}, StatusFail, ""},
		{"tags out", "linux/debian12-firecracker-vm", "tags: [pci]", &AssetFacts{Tag: "A-1", Tags: []string{"dev"}}, StatusNotApplicable, "asset A-1 has none of the tags in scope"},
		{"all dimensions must match", "linux/debian12-firecracker-vm", "platforms: [linux]\n  classifications: [public]", &AssetFacts{Tag: "A-1", Classification: "internal"},
			StatusNotApplicable, "classification internal is out of scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, tt.host)
			in.Asset = tt.asset
			got := one(t, "scope:\n  "+tt.scope+"\nkind: disk_encryption\nparams:\n  scope: system").Evaluate(in)[0]
			if got.Status != tt.status || (tt.reason != "" && got.Reason != tt.reason) {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestWorst(t *testing.T) {
	t.Parallel()
	rs := func(statuses ...string) []Result {
		var out []Result
		for _, s := range statuses {
			out = append(out, Result{Status: s})
		}
		return out
	}
	tests := []struct {
		in   []Result
		want string
	}{
		{rs(StatusPass, StatusFail, StatusUnknown), StatusFail},
		{rs(StatusStale, StatusUnknown, StatusPass), StatusUnknown},
		{rs(StatusInGrace, StatusStale), StatusStale},
		{rs(StatusExempt, StatusInGrace), StatusInGrace},
		{rs(StatusPass, StatusExempt, StatusNotApplicable), StatusExempt},
		{rs(StatusPass, StatusNotApplicable), StatusPass},
		{rs(StatusNotApplicable), StatusNotApplicable},
		{nil, StatusNotApplicable},
	}
	for _, tt := range tests {
		if got := Worst(tt.in); got != tt.want {
			t.Errorf("Worst(%v): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestDefaultSet evaluates the shipped baseline on every captured host; the
// expectations are what an auditor would conclude from each capture.
func TestDefaultSet(t *testing.T) {
	t.Parallel()
	set := Default()
	if got := len(set.Policies()); got != 6 {
		t.Fatalf("default policies: got %d, want 6", got)
	}
	confidential := &AssetFacts{Tag: "A-1", Classification: "confidential", Type: "laptop"}
	tests := []struct {
		host  string
		asset *AssetFacts
		want  map[string]string
		worst string
	}{
		{"linux/debian12-firecracker-vm", nil, map[string]string{
			"CFG-ENC-01": StatusNotApplicable, "CFG-ENC-02": StatusUnknown, "CFG-PATCH-01": StatusFail,
			"CFG-PATCH-02": StatusInGrace, "CFG-OS-01": StatusPass, "CFG-CHK-01": StatusPass}, StatusFail},
		{"darwin/macbookpro10-1-xml", confidential, map[string]string{
			"CFG-ENC-01": StatusPass, "CFG-ENC-02": StatusPass, "CFG-PATCH-01": StatusFail,
			"CFG-PATCH-02": StatusUnknown, "CFG-OS-01": StatusFail, "CFG-CHK-01": StatusPass}, StatusFail},
		{"darwin/macbookpro11-4-text", &AssetFacts{Tag: "A-2", Classification: "internal"}, map[string]string{
			"CFG-ENC-01": StatusUnknown, "CFG-ENC-02": StatusNotApplicable, "CFG-PATCH-01": StatusUnknown,
			"CFG-PATCH-02": StatusPass, "CFG-OS-01": StatusFail, "CFG-CHK-01": StatusPass}, StatusFail},
		{"windows/server-2022", &AssetFacts{Tag: "A-3", Classification: "public", Type: "server"}, map[string]string{
			"CFG-ENC-01": StatusNotApplicable, "CFG-ENC-02": StatusNotApplicable, "CFG-PATCH-01": StatusUnknown,
			"CFG-PATCH-02": StatusUnknown, "CFG-OS-01": StatusPass, "CFG-CHK-01": StatusPass}, StatusUnknown},
		{"windows/win10-20h2-vmware", confidential, map[string]string{
			"CFG-ENC-01": StatusPass, "CFG-ENC-02": StatusPass, "CFG-PATCH-01": StatusFail,
			"CFG-PATCH-02": StatusUnknown, "CFG-OS-01": StatusFail, "CFG-CHK-01": StatusPass}, StatusFail},
		{"linux/dell-r6515-centos7", &AssetFacts{Tag: "A-4", Classification: "confidential", Type: "server"}, map[string]string{
			"CFG-ENC-01": StatusNotApplicable, "CFG-ENC-02": StatusUnknown, "CFG-PATCH-01": StatusFail,
			"CFG-PATCH-02": StatusUnknown, "CFG-OS-01": StatusFail, "CFG-CHK-01": StatusPass}, StatusFail},
		{"linux/virtualbox-arch", &AssetFacts{Tag: "A-5", Classification: "internal", Type: "vm"}, map[string]string{
			"CFG-ENC-01": StatusNotApplicable, "CFG-ENC-02": StatusNotApplicable, "CFG-PATCH-01": StatusFail,
			"CFG-PATCH-02": StatusUnknown, "CFG-OS-01": StatusPass, "CFG-CHK-01": StatusPass}, StatusFail},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			in := input(t, tt.host)
			in.Asset = tt.asset
			results := set.Evaluate(in)
			got := map[string]string{}
			for _, r := range results {
				got[r.PolicyID] = r.Status
				if r.Reason == "" {
					t.Errorf("%s: empty reason", r.PolicyID)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%+v", diff, results)
			}
			if w := Worst(results); w != tt.worst {
				t.Errorf("worst: got %s, want %s", w, tt.worst)
			}
		})
	}
}
