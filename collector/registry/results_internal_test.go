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
	d := &evalDevice{id: "d1", asset: &compliance.AssetFacts{Tag: "TAG-1"}}
	if rs == nil {
		return d
	}
	o, err := diffResults(&evalDevice{id: "d1"}, rs)
	if err != nil {
		t.Fatal(err)
	}
	d.stored, d.results, d.failing, d.state = true, o.doc, o.failing, o.state
	return d
}

func TestDiffResults(t *testing.T) {
	t.Parallel()
	since := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	later := since.Add(24 * time.Hour)
	pass := func(id string) compliance.Result {
		return compliance.Result{PolicyID: id, Status: compliance.StatusPass, Reason: "ok"}
	}
	fail := func(id, reason string, at time.Time) compliance.Result {
		return compliance.Result{PolicyID: id, Status: compliance.StatusFail, Reason: reason, FailingSince: at}
	}
	tests := []struct {
		name        string
		before, now []compliance.Result
		changed     bool
		state       string
		changes     []statusChange
		failing     string
	}{
		{
			name:    "first evaluation: every policy is a change from nothing",
			now:     []compliance.Result{pass("P-1"), fail("P-2", "off", since)},
			changed: true, state: compliance.StatusFail,
			changes: []statusChange{{PolicyID: "P-1", Status: "pass", Reason: "ok"}, {PolicyID: "P-2", Status: "fail", Reason: "off"}},
			failing: "P-2=" + fmtTime(since),
		},
		{
			name:   "the same results: nothing changed",
			before: []compliance.Result{pass("P-1"), fail("P-2", "off", since)},
			now:    []compliance.Result{pass("P-1"), fail("P-2", "off", since)},
			state:  compliance.StatusFail, failing: "P-2=" + fmtTime(since),
		},
		{
			name:    "pass → fail",
			before:  []compliance.Result{pass("P-1")},
			now:     []compliance.Result{fail("P-1", "off", since)},
			changed: true, state: compliance.StatusFail,
			changes: []statusChange{{PolicyID: "P-1", Status: "fail", Previous: "pass", Reason: "off"}},
			failing: "P-1=" + fmtTime(since),
		},
		{
			name:    "fail → pass: failing since dropped",
			before:  []compliance.Result{fail("P-1", "off", since)},
			now:     []compliance.Result{pass("P-1")},
			changed: true, state: compliance.StatusPass,
			changes: []statusChange{{PolicyID: "P-1", Status: "pass", Previous: "fail", Reason: "ok"}},
		},
		{
			name:    "still failing with another reason: stored again, no status change, failing since kept",
			before:  []compliance.Result{fail("P-1", "off", since)},
			now:     []compliance.Result{fail("P-1", "off on /dev/sdb too", since)},
			changed: true, state: compliance.StatusFail,
			failing: "P-1=" + fmtTime(since),
		},
		{
			name:    "fail → unknown keeps failing since",
			before:  []compliance.Result{fail("P-1", "off", since)},
			now:     []compliance.Result{{PolicyID: "P-1", Status: compliance.StatusUnknown, Reason: "probe failed", FailingSince: since}},
			changed: true, state: compliance.StatusUnknown,
			changes: []statusChange{{PolicyID: "P-1", Status: "unknown", Previous: "fail", Reason: "probe failed"}},
			failing: "P-1=" + fmtTime(since),
		},
		{
			name:    "a new policy is a change from nothing",
			before:  []compliance.Result{pass("P-1")},
			now:     []compliance.Result{pass("P-1"), fail("P-2", "off", later)},
			changed: true, state: compliance.StatusFail,
			changes: []statusChange{{PolicyID: "P-2", Status: "fail", Reason: "off"}},
			failing: "P-2=" + fmtTime(later),
		},
		{
			name:    "a removed policy changes the state but is no status change",
			before:  []compliance.Result{pass("P-1"), fail("P-2", "off", since)},
			now:     []compliance.Result{pass("P-1")},
			changed: true, state: compliance.StatusPass,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := storedDevice(t, tt.before)
			o, err := diffResults(d, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if o.changed != tt.changed || o.state != tt.state || o.failing != tt.failing {
				t.Errorf("changed, state, failing = %v, %s, %q; want %v, %s, %q", o.changed, o.state, o.failing, tt.changed, tt.state, tt.failing)
			}
			if !slices.Equal(o.changes, tt.changes) {
				t.Errorf("changes = %+v, want %+v", o.changes, tt.changes)
			}
			if !o.changed && o.doc != d.results {
				t.Errorf("unchanged outcome with a new doc %s, stored %s", o.doc, d.results)
			}
		})
	}
}

func TestDiffResultsCorruptStored(t *testing.T) {
	t.Parallel()
	d := &evalDevice{id: "d1", stored: true, results: "{not json", state: compliance.StatusPass}
	if _, err := diffResults(d, []compliance.Result{{PolicyID: "P-1", Status: compliance.StatusFail}}); err == nil {
		t.Error("got no error, want the stored results' decoding error")
	}
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
			o, err := diffResults(storedDevice(t, tt.before), tt.now)
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
						Changes []statusChange `json:"changes"`
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
	d := &evalDevice{id: "d1", lastSeen: t0}
	eval := func(now time.Time) outcome {
		t.Helper()
		o, err := diffResults(d, set.Evaluate(d.input(nil, nil, now)))
		if err != nil {
			t.Fatal(err)
		}
		d.stored, d.results, d.failing, d.state = true, o.doc, o.failing, o.state
		return o
	}
	firstFail := t0.Add(8 * 24 * time.Hour)
	if o := eval(firstFail); o.state != compliance.StatusFail || o.failing != "CHK-01="+fmtTime(firstFail) {
		t.Fatalf("8 days silent: %s %q, want fail since then", o.state, o.failing)
	}
	o := eval(firstFail.Add(24 * time.Hour))
	if o.failing != "CHK-01="+fmtTime(firstFail) || len(o.changes) != 0 {
		t.Errorf("a day later: failing %q, changes %+v; want the first failing time and no status change", o.failing, o.changes)
	}
	back := firstFail.Add(48 * time.Hour)
	d.lastSeen = back
	if o := eval(back); o.state != compliance.StatusPass || o.failing != "" ||
		!slices.Equal(o.changes, []statusChange{{PolicyID: "CHK-01", Status: "pass", Previous: "fail", Reason: o.results[0].Reason}}) {
		t.Errorf("seen again: %s %q %+v, want pass, nothing failing, one change", o.state, o.failing, o.changes)
	}
	again := back.Add(8 * 24 * time.Hour)
	if o := eval(again); o.failing != "CHK-01="+fmtTime(again) {
		t.Errorf("silent again: failing %q, want since %s, not the old failure", o.failing, fmtTime(again))
	}
}
