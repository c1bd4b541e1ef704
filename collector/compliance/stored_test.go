package compliance

import (
	"encoding/json"
	"runtime"
	"slices"
	"strings"
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
	o, err := DiffResults("", "", rs, stamp, nil)
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
			o, err := DiffResults(state, doc, tt.now, stamp, nil)
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
			// Each list is allocated once, at its length.
			if cap(o.Changes) != len(o.Changes) || cap(o.Removed) != len(o.Removed) {
				t.Errorf("changes and removed have capacities %d, %d; want their lengths %d, %d",
					cap(o.Changes), cap(o.Removed), len(o.Changes), len(o.Removed))
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
			known, err := DiffDecoded(state, doc, prev, true, tt.now, stamp, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(o, known); diff != "" {
				t.Errorf("DiffDecoded (-DiffResults +DiffDecoded):\n%s", diff)
			}
			// A caller holding only the decoded results (the fleet
			// evaluation's cache) gets the same diff, without the
			// encoded forms when nothing changed.
			stored, err := DiffStored(state, prev, tt.now, stamp, nil)
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
	if _, err := DiffResults(StatusPass, "{not json", []Result{{PolicyID: "P-1", Status: StatusFail}}, stamp, nil); err == nil {
		t.Error("got no error, want the stored results' decoding error")
	}
}

// celSet is the default policies and two CEL policies whose fail reasons
// quote their expressions, so that real results carry quotes, & and <
// (the Debian capture has openssh-client, the MacBook Pro 10,1 an old
// update).
func celSet(t testing.TB) *Set {
	t.Helper()
	data := append(DefaultFile(), []byte(`
  - id: SEC-REBOOT-01
    title: No reboot pending for over a week
    severity: low
    kind: cel
    expr: os.reboot_required == "no" || days_since_update < 7
  - id: SEC-BAN-01
    title: No remote shells or remote-control tools
    severity: high
    kind: cel
    expr: '!has_software("openssh-*") && !has_software("teamviewer*") && days_since_checkin < 30'
`)...)
	s, err := Parse(data, "policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// capturedResults is the stored results of every captured host under the
// default policies and under celSet, alone and linked to an asset with an
// exception, each as a first evaluation makes them.
func capturedResults(t testing.TB) map[string][]StoredResult {
	t.Helper()
	sets := map[string]*Set{"default": Default(), "cel": celSet(t)}
	out := map[string][]StoredResult{}
	for _, h := range allHosts(t) {
		for name, set := range sets {
			in := input(t, h)
			out[h+"/"+name] = firstDiff(t, set.Evaluate(in)).Results
			in.Asset = &AssetFacts{Tag: "A-000042", Classification: "confidential", Type: "laptop", Tags: []string{"corp"}}
			in.Exceptions = []Exception{{ID: "E-7", PolicyID: "CFG-OS-01", AssetTag: "A-000042",
				ExpiresAt: testNow().Add(24 * time.Hour), Reason: "upgrade booked", Approver: "ciso"}}
			in.FailingSince = map[string]time.Time{"CFG-PATCH-01": testNow().Add(-5 * 24 * time.Hour)}
			out[h+"/"+name+"/asset"] = firstDiff(t, set.Evaluate(in)).Results
		}
	}
	return out
}

func firstDiff(t testing.TB, rs []Result) Diff {
	t.Helper()
	o, err := DiffResults("", "", rs, stamp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// encodeFailingSlow is EncodeFailing as first written, plainly.
func encodeFailingSlow(results []StoredResult) string {
	var parts []string
	for _, r := range results {
		if r.FailingSince != "" {
			parts = append(parts, r.PolicyID+"="+r.FailingSince)
		}
	}
	return strings.Join(parts, ",")
}

// encodeResultsSlow is the array form (see StoredResult) written plainly:
// encoding/json's bytes for the arrays, HTML characters left as they are.
func encodeResultsSlow(t *testing.T, rs []StoredResult) string {
	t.Helper()
	arrays := [][]any{}
	for _, r := range rs {
		a := []any{r.PolicyID, r.Status, r.ReasonID, r.Reason, r.ExceptionID, r.FailingSince}
		for len(a) > 3 && a[len(a)-1] == "" {
			a = a[:len(a)-1]
		}
		arrays = append(arrays, a)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(arrays); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestEncodeResultsCapturedHosts holds the stored forms of the captured
// hosts' real results to the plain definitions of the document and the
// failing column: a stored document that differs by one byte would
// rewrite every device once. The CEL reasons quote their expressions, so
// some documents carry escaped characters. Each document also reads back
// as the results, and so does the form before it (an array of objects).
func TestEncodeResultsCapturedHosts(t *testing.T) {
	t.Parallel()
	escaped := false
	for name, rs := range capturedResults(t) {
		want := encodeResultsSlow(t, rs)
		got, err := encodeResults(rs, nil)
		if err != nil || got != want {
			t.Errorf("%s: encodeResults = %s, %v\nwant %s", name, got, err, want)
		}
		if got, want := EncodeFailing(rs), encodeFailingSlow(rs); got != want {
			t.Errorf("%s: EncodeFailing = %q, want %q", name, got, want)
		}
		escaped = escaped || strings.Contains(got, `\"`) && strings.Contains(got, `&&`) && strings.Contains(got, `<`)
		objects, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range []string{got, string(objects)} {
			back, err := DecodeResults(doc)
			if err != nil || !slices.Equal(back, rs) {
				t.Errorf("%s: DecodeResults(%s) =\n%v, %v\nwant\n%v", name, doc, back, err, rs)
			}
		}
	}
	if !escaped {
		t.Error("no captured host's results needed escaping: the test no longer covers it")
	}
}

// TestEncodeResultsAllocations holds the stored forms of real results, with
// their reasons' texts or ids, to about one copy of the document's bytes
// (json.Marshal's result and its conversion to a string were two) and to
// one allocation for the failing column, none with nothing failing.
func TestEncodeResultsAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("counts allocations")
	}
	for name, rs := range capturedResults(t) {
		doc, err := encodeResults(rs, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The bytes' size class rounds up by at most an eighth, plus the
		// encoder and the boxed slice.
		if got, limit := allocatedBytes(100, func() { _, _ = encodeResults(rs, nil) }), uint64(len(doc)*5/4+128); got > limit {
			t.Errorf("%s: encodeResults allocated %d bytes for a %d-byte document, want at most %d", name, got, len(doc), limit)
		}
		// Reasons named by id: the texts they replace are not measured.
		rids := make([]int64, len(rs))
		for i := range rids {
			rids[i] = int64(i + 1)
		}
		idDoc, err := encodeResults(rs, rids)
		if err != nil {
			t.Fatal(err)
		}
		if got, limit := allocatedBytes(100, func() { _, _ = encodeResults(rs, rids) }), uint64(len(idDoc)*5/4+128); got > limit {
			t.Errorf("%s: encodeResults with reason ids allocated %d bytes for a %d-byte document, want at most %d", name, got, len(idDoc), limit)
		}
		want := 0.0
		if encodeFailingSlow(rs) != "" {
			want = 1
		}
		if n := testing.AllocsPerRun(10, func() { EncodeFailing(rs) }); n != want {
			t.Errorf("%s: EncodeFailing made %v allocations, want %v", name, n, want)
		}
	}
}

// allocatedBytes is the heap f allocates per run, over runs runs (as
// testing.AllocsPerRun counts allocations).
func allocatedBytes(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// reasonDict is a dictionary of reasons as the registry keeps one: ids in
// the order texts were first given one.
type reasonDict struct {
	ids   map[string]int64
	texts map[int64]string
}

func (d *reasonDict) add(text string) int64 {
	if id, ok := d.ids[text]; ok {
		return id
	}
	id := int64(len(d.ids) + 1)
	d.ids[text], d.texts[id] = id, text
	return id
}

func (d *reasonDict) id(text string) (int64, bool) {
	id, ok := d.ids[text]
	return id, ok
}

// TestEncodeWithReasonIDs stores every captured host's real results with
// its reasons named by ids: the document carries no reason text, is
// smaller than the one with the texts, and decodes to the same results
// once the ids are looked up. Encoding leaves Results as they were, texts
// in place: the fleet evaluation compares them with the next results. A
// reason the dictionary lacks leaves Doc empty, so that the registry gives
// it an id first.
func TestEncodeWithReasonIDs(t *testing.T) {
	t.Parallel()
	dict := &reasonDict{ids: map[string]int64{}, texts: map[int64]string{}}
	var textBytes, idBytes, objBytes, lacking int
	for name, rs := range capturedResults(t) {
		o := Diff{Results: slices.Clone(rs)}
		if slices.ContainsFunc(rs, func(r StoredResult) bool { _, ok := dict.id(r.Reason); return r.Reason != "" && !ok }) {
			lacking++
			if err := o.Encode(dict.id); err != nil || o.Doc != "" {
				t.Fatalf("%s: Encode with reasons the dictionary lacks = %q, %v; want no document", name, o.Doc, err)
			}
			if !slices.Equal(o.Results, rs) {
				t.Fatalf("%s: Encode changed the results:\n%v\nwant\n%v", name, o.Results, rs)
			}
		}
		for _, r := range rs {
			if r.Reason != "" {
				dict.add(r.Reason)
			}
		}
		if err := o.Encode(dict.id); err != nil || o.Doc == "" {
			t.Fatalf("%s: Encode = %q, %v", name, o.Doc, err)
		}
		if !slices.Equal(o.Results, rs) {
			t.Fatalf("%s: Encode changed the results:\n%v\nwant\n%v", name, o.Results, rs)
		}
		for _, r := range rs {
			if r.Reason != "" && strings.Contains(o.Doc, r.Reason) {
				t.Errorf("%s: document with reason ids still has the text %q: %s", name, r.Reason, o.Doc)
			}
		}
		withTexts := Diff{Results: rs}
		if err := withTexts.Encode(nil); err != nil {
			t.Fatal(err)
		}
		if o.Failing != withTexts.Failing {
			t.Errorf("%s: failing column %q, want %q", name, o.Failing, withTexts.Failing)
		}
		textBytes, idBytes = textBytes+len(withTexts.Doc), idBytes+len(o.Doc)
		// The same document as an array of objects, the form before.
		objs := slices.Clone(rs)
		for i := range objs {
			if objs[i].Reason != "" {
				objs[i].Reason, objs[i].ReasonID = "", dict.ids[objs[i].Reason]
			}
		}
		b, err := json.Marshal(objs)
		if err != nil {
			t.Fatal(err)
		}
		objBytes += len(b)
		back, err := DecodeResults(o.Doc)
		if err != nil {
			t.Fatal(err)
		}
		for i := range back {
			if back[i].ReasonID != 0 {
				back[i].Reason, back[i].ReasonID = dict.texts[back[i].ReasonID], 0
			}
		}
		if !slices.Equal(back, rs) {
			t.Errorf("%s: decoded\n%v\nwant\n%v", name, back, rs)
		}
	}
	if lacking == 0 {
		t.Error("no document had a reason the dictionary lacked")
	}
	t.Logf("captured hosts' documents: %d bytes with the reasons' texts, %d with their ids (%d as arrays of objects)", textBytes, idBytes, objBytes)
	if idBytes*2 > objBytes {
		t.Errorf("documents with reason ids are %d bytes, want under half of the %d as arrays of objects", idBytes, objBytes)
	}
	if idBytes*2 > textBytes {
		t.Errorf("documents with reason ids are %d bytes, want under half of the %d with texts", idBytes, textBytes)
	}
}

// TestDiffWithNewReason: results with a reason the dictionary has no id
// for are a change, whatever the stored document, and have no document yet.
func TestDiffWithNewReason(t *testing.T) {
	t.Parallel()
	rs := []Result{{PolicyID: "P-1", Status: StatusPass, Reason: "ok"}}
	state, doc := storedResults(t, rs)
	o, err := DiffResults(state, doc, rs, stamp, func(string) (int64, bool) { return 0, false })
	if err != nil || !o.Changed || o.Doc != "" || len(o.Changes) != 0 {
		t.Fatalf("DiffResults = changed %v, doc %q, changes %v, %v; want changed, no document, no status change", o.Changed, o.Doc, o.Changes, err)
	}
	if err := o.Encode(func(string) (int64, bool) { return 7, true }); err != nil || o.Doc != `[["P-1","pass",7]]` {
		t.Fatalf("Encode = %s, %v", o.Doc, err)
	}
	// Stored so, the same results are unchanged.
	again, err := DiffResults(o.State, o.Doc, rs, stamp, func(string) (int64, bool) { return 7, true })
	if err != nil || again.Changed {
		t.Fatalf("the same results against their document with reason ids: changed %v, %v", again.Changed, err)
	}
}
