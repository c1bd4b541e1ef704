package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/retention"
)

// TestChangesOfOneInstantMerge writes a device's transitions at one
// instant twice (an injected clock; a report and a fleet evaluation in the
// same nanosecond) and once with the same policy twice in one flush: the
// device keeps one row of changes at that instant (0029), one change per
// policy, each with the later status and reason and the earlier previous
// status, as one row per policy kept before.
func TestChangesOfOneInstantMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	at := time.Date(2026, 11, 3, 9, 30, 0, 123456789, time.UTC)
	id, num := bareDevice(t, r, "merge-1", at)
	flush := func(rows ...transitionRow) { writeChanges(t, r, num, at, rows...) }
	flush(transitionRow{policy: "POL-B", status: compliance.StatusFail, reason: "first B"},
		transitionRow{policy: "POL-A", status: compliance.StatusPass},
		transitionRow{policy: "POL-D", status: compliance.StatusPass},
		transitionRow{policy: "POL-D", status: compliance.StatusFail, previous: compliance.StatusPass, reason: "D again"})
	flush(transitionRow{policy: "POL-A", status: compliance.StatusFail, previous: compliance.StatusPass, reason: "A failed"},
		transitionRow{policy: "POL-C", status: compliance.StatusUnknown, reason: "no facts"})

	var rows int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_changes WHERE device_num = $1`, num).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d rows of changes for one device at one instant, want 1", rows)
	}
	var got []ComplianceTransition
	if err := r.ComplianceTransitions(ctx, HistoryFilter{DeviceID: id}, func(c ComplianceTransition) error {
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []ComplianceTransition{
		{DeviceID: id, PolicyID: "POL-A", At: at, Status: compliance.StatusFail, Reason: "A failed"},
		{DeviceID: id, PolicyID: "POL-B", At: at, Status: compliance.StatusFail, Reason: "first B"},
		{DeviceID: id, PolicyID: "POL-C", At: at, Status: compliance.StatusUnknown, Reason: "no facts"},
		{DeviceID: id, PolicyID: "POL-D", At: at, Status: compliance.StatusFail, Reason: "D again"},
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("transitions at one instant (-want +got):\n%s", d)
	}
	// The view gives the same rows to SQL.
	var viewRows int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_transitions WHERE device_num = $1 AND at = $2`, num, historyTime(at)).Scan(&viewRows); err != nil {
		t.Fatal(err)
	}
	if viewRows != len(want) {
		t.Errorf("the view has %d rows, want %d", viewRows, len(want))
	}
}

// TestParseChangesOfTheEngines reads rows of changes in the forms the
// engines themselves write: flush's, and the migration's (SQLite's
// json_group_array, PostgreSQL's jsonb text with its spaces), produced by
// the engine under test.
func TestParseChangesOfTheEngines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	want := []change{
		{policy: "CFG-ENC-01", status: compliance.StatusPass, previous: compliance.StatusFail, reason: 0},
		{policy: "SEC-PATCH-2", status: StatusRemoved, previous: compliance.StatusInGrace, reason: 9007199254740991},
		{policy: "SEC-PATCH-3", status: compliance.StatusFail, previous: "", reason: 12},
	}
	q := `SELECT json_group_array(json_array(p, s, prev, id)) FROM (SELECT 'SEC-PATCH-3' AS p, 'fail' AS s, '' AS prev, 12 AS id
		UNION ALL SELECT 'CFG-ENC-01', 'pass', 'fail', 0 UNION ALL SELECT 'SEC-PATCH-2', 'removed', 'in_grace', 9007199254740991) v`
	if r.Engine() == EnginePostgres {
		q = `SELECT jsonb_agg(jsonb_build_array(p, s, prev, id))::text FROM (SELECT 'SEC-PATCH-3' AS p, 'fail' AS s, '' AS prev, 12::bigint AS id
			UNION ALL SELECT 'CFG-ENC-01', 'pass', 'fail', 0 UNION ALL SELECT 'SEC-PATCH-2', 'removed', 'in_grace', 9007199254740991) v`
	}
	var engine string
	if err := r.db.QueryRowContext(ctx, q).Scan(&engine); err != nil {
		t.Fatal(err)
	}
	mine := string(appendChanges(nil, append([]change(nil), want...)))
	for _, doc := range []string{engine, mine} {
		got, err := parseChanges(doc, nil)
		if err != nil {
			t.Fatalf("parse %s: %v", doc, err)
		}
		if d := gocmp.Diff(want, got, gocmp.AllowUnexported(change{})); d != "" {
			t.Errorf("parse %s (-want +got):\n%s", doc, d)
		}
	}
	if p := (changeParser{doc: engine}); !func() bool { _, ok := p.array(nil); return ok }() {
		t.Errorf("the engine's form %s takes the slow path", engine)
	}
}

// FuzzParseChanges holds parseChanges, hand-written for speed, to
// encoding/json's reading of the same document: the same changes, or an
// error from both.
func FuzzParseChanges(f *testing.F) {
	for _, s := range []string{
		`[["CFG-ENC-01","pass","fail",0],["SEC-PATCH-2","removed","in_grace",9007199254740991]]`,
		`[["SEC-PATCH-3", "fail", "", 12], ["CFG-ENC-01", "pass", "fail", 0]]`,
		`[]`, ` [ ] `, `null`, `[["A-1","pass","",1e2]]`, `[["A-1","pa\"ss","",01]]`, `[["A-1","pass","",-1]]`,
		`[["A-1","pass","",1,2]]`, `[["B-1","x","",1],["A-1","y","",2],["A-1","z","",3]]`, "[[\"A-1\",\"p\u00e4ss\",\"\",1]]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseChanges(doc, nil)
		want, werr := decodeChanges(doc, nil)
		if (err == nil) != (werr == nil) {
			t.Fatalf("parseChanges(%q): %v; encoding/json: %v", doc, err, werr)
		}
		if err == nil && !gocmp.Equal(want, got, gocmp.AllowUnexported(change{})) {
			t.Fatalf("parseChanges(%q) = %+v; encoding/json: %+v", doc, got, want)
		}
	})
}

// TestPurgeOfChangesKeepsEachPairsNewest: the compliance history's purge
// deletes a device's row of changes older than the cutoff once every
// policy in it changed again later, and keeps a row holding some policy's
// newest change whole, the other policies' older changes beside it. The
// dry run counts the same rows.
func TestPurgeOfChangesKeepsEachPairsNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return start.Add(time.Duration(n) * 24 * time.Hour) }
	dev := func(name string) int64 {
		_, num := bareDevice(t, r, name, start)
		return num
	}
	write := func(num int64, at time.Time, rows ...transitionRow) { writeChanges(t, r, num, at, rows...) }
	pass, fail := compliance.StatusPass, compliance.StatusFail
	a, b := dev("a"), dev("b")
	// a: day 0 {A, B}, day 1 {A}, day 2 {B}, day 40 {A}
	write(a, day(0), transitionRow{policy: "P-A", status: pass}, transitionRow{policy: "P-B", status: pass})
	write(a, day(1), transitionRow{policy: "P-A", status: fail, previous: pass, reason: "A failed"})
	write(a, day(2), transitionRow{policy: "P-B", status: fail, previous: pass, reason: "B failed"})
	write(a, day(40), transitionRow{policy: "P-A", status: pass, previous: fail})
	// b: day 0 {A, C}, day 3 {A}: C never changed again
	write(b, day(0), transitionRow{policy: "P-A", status: pass}, transitionRow{policy: "P-C", status: pass, reason: "C holds"})
	write(b, day(3), transitionRow{policy: "P-A", status: fail, previous: pass})

	p := retention.Policy{Rules: []retention.Rule{{Kind: retention.ComplianceHistory, Keep: 20 * 24 * time.Hour}}}
	now := day(30) // cutoff day 10
	plan, err := r.PurgePlan(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Purge(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Kinds[0].Tables["compliance_changes"], int64(2); got != want {
		t.Errorf("purge removed %d rows, want %d (a's days 0 and 1)", got, want)
	}
	if d := gocmp.Diff(plan.Kinds[0].Tables, rep.Kinds[0].Tables); d != "" {
		t.Errorf("dry run and purge differ (-plan +purge):\n%s", d)
	}
	left := func(num int64) []time.Time {
		t.Helper()
		rows, err := r.db.QueryContext(ctx, `SELECT at FROM compliance_changes WHERE device_num = $1 ORDER BY at`, num)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []time.Time
		for rows.Next() {
			var at int64
			if err := rows.Scan(&at); err != nil {
				t.Fatal(err)
			}
			out = append(out, time.Unix(0, at).UTC())
		}
		return out
	}
	if d := gocmp.Diff([]time.Time{day(2), day(40)}, left(a)); d != "" {
		t.Errorf("a's rows left (-want +got):\n%s", d)
	}
	if d := gocmp.Diff([]time.Time{day(0), day(3)}, left(b)); d != "" {
		t.Errorf("b's rows left (-want +got):\n%s", d)
	}
	// The states in force at the cutoff that the rule keeps still read:
	// a's B failing since day 2 (a's A changed again on day 40, so its
	// older changes went, as they did with a row per policy), b's A
	// failing since day 3 and C passing since day 0, with its reason.
	var states []PolicyState
	if err := r.ComplianceStatesAt(ctx, HistoryFilter{To: day(10)}, func(s PolicyState) error {
		states = append(states, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range states {
		got = append(got, fmt.Sprintf("%s %s %s %q", s.PolicyID, s.Status, s.Since.Format(time.DateOnly), s.Reason))
	}
	want := []string{
		`P-B fail 2026-01-03 "B failed"`,
		`P-A fail 2026-01-04 ""`, `P-C pass 2026-01-01 "C holds"`,
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("states at the cutoff (-want +got):\n%s", d)
	}
}

// bareDevice stores a device record with no report, for tests writing its
// compliance history directly, and returns its id and number.
func bareDevice(t *testing.T, r *Registry, hostname string, at time.Time) (string, int64) {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	var num int64
	err := r.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, first_seen, last_seen, enrolled_at) VALUES ($1, $2, 'linux', $3, $3, $3)`, id, hostname, fmtTime(at)); err != nil {
			return err
		}
		var err error
		num, err = deviceNum(ctx, tx, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, num
}

// writeChanges writes device num's transitions at one instant, as a
// report's or a fleet evaluation's transaction does.
func writeChanges(t *testing.T, r *Registry, num int64, at time.Time, rows ...transitionRow) {
	t.Helper()
	ctx := context.Background()
	err := r.Write(ctx, func(tx *Tx) error {
		w := newTransitionRows(at)
		for _, x := range rows {
			w.add(num, x.policy, x.status, x.previous, x.reason)
		}
		return w.flush(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}
