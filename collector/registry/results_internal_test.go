package registry

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/webhook"
)

// storedDevice is a device whose stored results are rs (nil: never
// evaluated).
func storedDevice(t *testing.T, rs []compliance.Result) *evalDevice {
	t.Helper()
	d := &evalDevice{id: "d1", facts: &compliance.Facts{}, asset: &compliance.AssetFacts{Tag: "TAG-1"}}
	if rs == nil {
		return d
	}
	o, err := diffResults(nil, &evalDevice{id: "d1"}, rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.stored, d.results, d.failing, d.state = true, o.Doc, o.Failing, o.State
	return d
}

func TestOutcomeEvents(t *testing.T) {
	t.Parallel()
	set, err := compliance.Parse([]byte(`policies:
  - {id: SW-BAN-01, title: t, severity: low, kind: banned_software, params: {name: "TeamViewer*"}}
  - {id: CHK-01, title: t, severity: low, kind: max_days_since_checkin, params: {days: 7}}
`), "policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)
	res := func(id, status string) compliance.Result {
		r := compliance.Result{PolicyID: id, Status: status, Reason: id + " " + status}
		if status == compliance.StatusFail || status == compliance.StatusInGrace {
			r.FailingSince = now
		}
		return r
	}
	pass := compliance.StatusPass
	tests := []struct {
		name        string
		before, now []compliance.Result
		kinds       []string
		subject     string // of compliance.changed
	}{
		{
			name:   "nothing changed: no event",
			before: []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", pass)},
			now:    []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", pass)},
		},
		{
			name:    "first evaluation",
			now:     []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", pass)},
			kinds:   []string{webhook.KindComplianceChanged},
			subject: "compliance state pass",
		},
		{
			name:    "banned software appears",
			before:  []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", pass)},
			now:     []compliance.Result{res("SW-BAN-01", compliance.StatusFail), res("CHK-01", pass)},
			kinds:   []string{webhook.KindComplianceChanged, webhook.KindSoftwareBanned},
			subject: "compliance state pass → fail",
		},
		{
			name:    "banned software in grace announced once, not again when the grace ends",
			before:  []compliance.Result{res("SW-BAN-01", compliance.StatusInGrace), res("CHK-01", pass)},
			now:     []compliance.Result{res("SW-BAN-01", compliance.StatusFail), res("CHK-01", pass)},
			kinds:   []string{webhook.KindComplianceChanged},
			subject: "compliance state in_grace → fail",
		},
		{
			name:    "another policy failing is no banned-software event",
			before:  []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", pass)},
			now:     []compliance.Result{res("SW-BAN-01", pass), res("CHK-01", compliance.StatusFail)},
			kinds:   []string{webhook.KindComplianceChanged},
			subject: "compliance state pass → fail",
		},
		{
			name:    "a status change under an unchanged state is still announced",
			before:  []compliance.Result{res("SW-BAN-01", compliance.StatusFail), res("CHK-01", pass)},
			now:     []compliance.Result{res("SW-BAN-01", compliance.StatusFail), res("CHK-01", compliance.StatusFail)},
			kinds:   []string{webhook.KindComplianceChanged},
			subject: "compliance state fail",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := diffResults(nil, storedDevice(t, tt.before), tt.now, nil)
			if err != nil {
				t.Fatal(err)
			}
			evs := o.events(set, now)
			var kinds []string
			for _, ev := range evs {
				kinds = append(kinds, ev.Kind)
				if ev.DeviceID != "d1" || ev.AssetTag != "TAG-1" || !ev.At.Equal(now) {
					t.Errorf("%s event = %+v, want device d1, asset TAG-1, at now", ev.Kind, ev)
				}
				if ev.Kind == webhook.KindComplianceChanged {
					if ev.Subject != tt.subject {
						t.Errorf("subject = %q, want %q", ev.Subject, tt.subject)
					}
					var data struct {
						Changes []compliance.StatusChange `json:"changes"`
					}
					if err := json.Unmarshal(ev.Data, &data); err != nil || data.Changes == nil {
						t.Errorf("data = %s (%v), want a changes list", ev.Data, err)
					}
				}
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("events = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

// TestFailingSinceKept runs the engine and diffResults as an evaluation
// does, feeding each outcome's stored columns back: a policy failing over
// several evaluations keeps the time it started failing, and a new failure
// after a pass starts afresh.
func TestFailingSinceKept(t *testing.T) {
	t.Parallel()
	set, err := compliance.Parse([]byte("policies:\n  - {id: CHK-01, title: t, severity: low, kind: max_days_since_checkin, params: {days: 7}}\n"), "policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	d := &evalDevice{id: "d1", facts: &compliance.Facts{}, lastSeen: t0}
	eval := func(now time.Time) outcome {
		t.Helper()
		o, err := diffResults(nil, d, set.Evaluate(d.input(nil, nil, now)), nil)
		if err != nil {
			t.Fatal(err)
		}
		d.stored, d.results, d.failing, d.state = true, o.Doc, o.Failing, o.State
		return o
	}
	firstFail := t0.Add(8 * 24 * time.Hour)
	if o := eval(firstFail); o.State != compliance.StatusFail || o.Failing != "CHK-01="+fmtTime(firstFail) {
		t.Fatalf("8 days silent: %s %q, want fail since then", o.State, o.Failing)
	}
	o := eval(firstFail.Add(24 * time.Hour))
	if o.Failing != "CHK-01="+fmtTime(firstFail) || len(o.Changes) != 0 {
		t.Errorf("a day later: failing %q, changes %+v; want the first failing time and no status change", o.Failing, o.Changes)
	}
	back := firstFail.Add(48 * time.Hour)
	d.lastSeen = back
	if o := eval(back); o.State != compliance.StatusPass || o.Failing != "" ||
		!slices.Equal(o.Changes, []compliance.StatusChange{{PolicyID: "CHK-01", Status: "pass", Previous: "fail", Reason: o.Results[0].Reason}}) {
		t.Errorf("seen again: %s %q %+v, want pass, nothing failing, one change", o.State, o.Failing, o.Changes)
	}
	again := back.Add(8 * 24 * time.Hour)
	if o := eval(again); o.Failing != "CHK-01="+fmtTime(again) {
		t.Errorf("silent again: failing %q, want since %s, not the old failure", o.Failing, fmtTime(again))
	}
}
