package compliance

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stamp writes a time as the registry stores it: fixed-width UTC text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// storedResults is the stored state and document of results rs (nil:
// never evaluated).
func storedResults(t *testing.T, rs []Result) (state, doc string) {
	t.Helper()
	if rs == nil {
		return "", ""
	}
	o, err := DiffResults("", "", rs, stamp)
	if err != nil {
		t.Fatal(err)
	}
	return o.State, o.Doc
}

func TestDiffResults(t *testing.T) {
	t.Parallel()
	since := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	later := since.Add(24 * time.Hour)
	pass := func(id string) Result {
		return Result{PolicyID: id, Status: StatusPass, Reason: "ok"}
	}
	fail := func(id, reason string, at time.Time) Result {
		return Result{PolicyID: id, Status: StatusFail, Reason: reason, FailingSince: at}
	}
	tests := []struct {
		name        string
		before, now []Result
		changed     bool
		state       string
		changes     []StatusChange
		removed     []string // policy ids of Removed
		failing     string
	}{
		{
			name:    "first evaluation: every policy is a change from nothing",
			now:     []Result{pass("P-1"), fail("P-2", "off", since)},
			changed: true, state: StatusFail,
			changes: []StatusChange{{PolicyID: "P-1", Status: "pass", Reason: "ok"}, {PolicyID: "P-2", Status: "fail", Reason: "off"}},
			failing: "P-2=" + stamp(since),
		},
		{
			name:   "the same results: nothing changed",
			before: []Result{pass("P-1"), fail("P-2", "off", since)},
			now:    []Result{pass("P-1"), fail("P-2", "off", since)},
			state:  StatusFail, failing: "P-2=" + stamp(since),
		},
		{
			name:    "pass → fail",
			before:  []Result{pass("P-1")},
			now:     []Result{fail("P-1", "off", since)},
			changed: true, state: StatusFail,
			changes: []StatusChange{{PolicyID: "P-1", Status: "fail", Previous: "pass", Reason: "off"}},
			failing: "P-1=" + stamp(since),
		},
		{
			name:    "fail → pass: failing since dropped",
			before:  []Result{fail("P-1", "off", since)},
			now:     []Result{pass("P-1")},
			changed: true, state: StatusPass,
			changes: []StatusChange{{PolicyID: "P-1", Status: "pass", Previous: "fail", Reason: "ok"}},
		},
		{
			name:    "still failing with another reason: stored again, no status change, failing since kept",
			before:  []Result{fail("P-1", "off", since)},
			now:     []Result{fail("P-1", "off on /dev/sdb too", since)},
			changed: true, state: StatusFail,
			failing: "P-1=" + stamp(since),
		},
		{
			name:    "fail → unknown keeps failing since",
			before:  []Result{fail("P-1", "off", since)},
			now:     []Result{{PolicyID: "P-1", Status: StatusUnknown, Reason: "probe failed", FailingSince: since}},
			changed: true, state: StatusUnknown,
			changes: []StatusChange{{PolicyID: "P-1", Status: "unknown", Previous: "fail", Reason: "probe failed"}},
			failing: "P-1=" + stamp(since),
		},
		{
			name:    "a new policy is a change from nothing",
			before:  []Result{pass("P-1")},
			now:     []Result{pass("P-1"), fail("P-2", "off", later)},
			changed: true, state: StatusFail,
			changes: []StatusChange{{PolicyID: "P-2", Status: "fail", Reason: "off"}},
			failing: "P-2=" + stamp(later),
		},
		{
			name:    "a removed policy changes the state but is no status change",
			before:  []Result{pass("P-1"), fail("P-2", "off", since)},
			now:     []Result{pass("P-1")},
			changed: true, state: StatusPass,
			removed: []string{"P-2"},
		},
		{
			// Result lists follow their policy sets' order: a set edited
			// in the middle and reordered still pairs each policy with
			// its own stored result.
			name:    "policies added in front and between, one removed, two swapped",
			before:  []Result{pass("P-1"), fail("P-2", "off", since), pass("P-3"), pass("P-4"), pass("P-5")},
			now:     []Result{pass("P-0"), pass("P-1"), pass("P-9"), fail("P-4", "late", later), pass("P-3"), pass("P-5")},
			changed: true, state: StatusFail,
			changes: []StatusChange{{PolicyID: "P-0", Status: "pass", Reason: "ok"}, {PolicyID: "P-9", Status: "pass", Reason: "ok"},
				{PolicyID: "P-4", Status: "fail", Previous: "pass", Reason: "late"}},
			removed: []string{"P-2"},
			failing: "P-4=" + stamp(later),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state, doc := storedResults(t, tt.before)
			o, err := DiffResults(state, doc, tt.now, stamp)
			if err != nil {
				t.Fatal(err)
			}
			if o.Changed != tt.changed || o.State != tt.state || o.Failing != tt.failing {
				t.Errorf("changed, state, failing = %v, %s, %q; want %v, %s, %q", o.Changed, o.State, o.Failing, tt.changed, tt.state, tt.failing)
			}
			if !slices.Equal(o.Changes, tt.changes) {
				t.Errorf("changes = %+v, want %+v", o.Changes, tt.changes)
			}
			var removed []string
			for _, r := range o.Removed {
				removed = append(removed, r.PolicyID)
			}
			if !slices.Equal(removed, tt.removed) {
				t.Errorf("removed = %v, want %v", removed, tt.removed)
			}
			if !o.Changed && o.Doc != doc {
				t.Errorf("unchanged outcome with a new doc %s, stored %s", o.Doc, doc)
			}
			// A caller holding the stored document decoded (the fleet
			// evaluation's cache) gets the same diff without a decode.
			prev, err := DecodeResults(doc)
			if err != nil {
				t.Fatal(err)
			}
			known, err := DiffDecoded(state, doc, prev, true, tt.now, stamp)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(o, known); diff != "" {
				t.Errorf("DiffDecoded (-DiffResults +DiffDecoded):\n%s", diff)
			}
			// A caller holding only the decoded results (the fleet
			// evaluation's cache) gets the same diff, without the
			// encoded forms when nothing changed.
			stored, err := DiffStored(state, prev, tt.now, stamp)
			if err != nil {
				t.Fatal(err)
			}
			if !o.Changed {
				o.Doc, o.Failing = "", ""
			}
			if diff := cmp.Diff(o, stored); diff != "" {
				t.Errorf("DiffStored (-DiffResults +DiffStored):\n%s", diff)
			}
		})
	}
}

func TestDiffResultsCorruptStored(t *testing.T) {
	t.Parallel()
	if _, err := DiffResults(StatusPass, "{not json", []Result{{PolicyID: "P-1", Status: StatusFail}}, stamp); err == nil {
		t.Error("got no error, want the stored results' decoding error")
	}
}
