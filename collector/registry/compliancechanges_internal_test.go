package registry

import (
	"context"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/rosterhq/roster/collector/compliance"
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
	id := uuid.NewString()
	var num int64
	err := r.Write(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, first_seen, last_seen, enrolled_at) VALUES ($1, 'merge-1', 'linux', $2, $2, $2)`, id, fmtTime(at)); err != nil {
			return err
		}
		var err error
		num, err = deviceNum(ctx, tx, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	flush := func(rows ...transitionRow) {
		t.Helper()
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
