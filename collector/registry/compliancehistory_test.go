package registry_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/shared/wire"
)

// checkinAndLinux has a policy that changes with time alone (check-in
// within 2 days) and one that depends on the platform.
const checkinAndLinux = `policies:
  - id: TEST-CHECKIN-01
    title: checked in within 2 days
    severity: medium
    kind: max_days_since_checkin
    params:
      days: 2
  - id: TEST-LINUX-01
    title: linux
    severity: low
    kind: cel
    expr: device.platform == "linux"
`

const linuxOnlyHistory = `policies:
  - id: TEST-LINUX-01
    title: linux
    severity: low
    kind: cel
    expr: device.platform == "linux"
`

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func (e *env) transitions(t *testing.T, f registry.HistoryFilter) []registry.ComplianceTransition {
	t.Helper()
	return transitionsOf(t, e.reg, f)
}

func transitionsOf(t *testing.T, r *registry.Registry, f registry.HistoryFilter) []registry.ComplianceTransition {
	t.Helper()
	var out []registry.ComplianceTransition
	if err := r.ComplianceTransitions(context.Background(), f, func(c registry.ComplianceTransition) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// statesAt returns "POLICY=STATUS" per device at moment.
func (e *env) statesAt(t *testing.T, f registry.HistoryFilter) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if err := e.reg.ComplianceStatesAt(context.Background(), f, func(s registry.PolicyState) error {
		out[s.DeviceID] = append(out[s.DeviceID], s.PolicyID+"="+s.Status)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestComplianceHistoryOverTime drives reports, fleet evaluations, a
// policy change and a revocation at chosen times, then asks what was in
// force before, between and after the transitions and for the daily rates.
func TestComplianceHistoryOverTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, checkinAndLinux)
	t1 := time.Date(2026, 9, 28, 10, 0, 0, 0, time.UTC)
	t2 := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	t3 := time.Date(2026, 10, 2, 9, 0, 0, 0, time.UTC)
	t4 := time.Date(2026, 10, 3, 8, 0, 0, 0, time.UTC)
	t5 := time.Date(2026, 10, 4, 7, 0, 0, 0, time.UTC)

	dm := e.reported(t, snapshotOf(t, mac), t1)
	deb := snapshotOf(t, debian)
	dd := e.reported(t, deb, t1)
	// Reasons change with time, statuses do not: no transition.
	if _, err := e.reg.EvaluateAll(ctx, t1.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Neither has checked in for over 2 days.
	if _, err := e.reg.EvaluateAll(ctx, t2); err != nil {
		t.Fatal(err)
	}
	e.apply(t, dd, full(t, deb, 2), t3)
	// TEST-CHECKIN-01 is deleted: its results are removed.
	if _, _, _, err := e.reg.ReplacePolicies(ctx, []byte(linuxOnlyHistory), "alice", t4); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.RevokeDevice(ctx, dm.DeviceID, t5); err != nil {
		t.Fatal(err)
	}

	type tr struct {
		At                       time.Time
		Policy, Status, Previous string
	}
	var got []tr
	for _, c := range e.transitions(t, registry.HistoryFilter{DeviceID: dm.DeviceID}) {
		got = append(got, tr{c.At, c.PolicyID, c.Status, c.Previous})
	}
	want := []tr{
		{t1, "TEST-CHECKIN-01", compliance.StatusPass, ""},
		{t1, "TEST-LINUX-01", compliance.StatusFail, ""},
		{t2, "TEST-CHECKIN-01", compliance.StatusFail, compliance.StatusPass},
		{t4, "TEST-CHECKIN-01", registry.StatusRemoved, compliance.StatusFail},
		{t5, "TEST-LINUX-01", registry.StatusRemoved, compliance.StatusFail},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("the Mac's transitions (-want +got):\n%s", d)
	}
	// From is inclusive, To exclusive, PolicyID narrows.
	got = nil
	for _, c := range e.transitions(t, registry.HistoryFilter{PolicyID: "TEST-CHECKIN-01", From: t2, To: t4}) {
		got = append(got, tr{c.At, c.PolicyID, c.Status, c.Previous})
	}
	want = []tr{
		{t2, "TEST-CHECKIN-01", compliance.StatusFail, compliance.StatusPass},
		{t2, "TEST-CHECKIN-01", compliance.StatusFail, compliance.StatusPass},
		{t3, "TEST-CHECKIN-01", compliance.StatusPass, compliance.StatusFail},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("TEST-CHECKIN-01's transitions in [t2, t4) (-want +got):\n%s", d)
	}

	states := []struct {
		name string
		at   time.Time
		want map[string][]string
	}{
		{"before the first report", t1.Add(-time.Second), map[string][]string{}},
		{"at the first report", t1, map[string][]string{
			dm.DeviceID: {"TEST-CHECKIN-01=pass", "TEST-LINUX-01=fail"},
			dd.DeviceID: {"TEST-CHECKIN-01=pass", "TEST-LINUX-01=pass"}}},
		{"on 2026-10-01 at midnight", day("2026-10-01"), map[string][]string{
			dm.DeviceID: {"TEST-CHECKIN-01=pass", "TEST-LINUX-01=fail"},
			dd.DeviceID: {"TEST-CHECKIN-01=pass", "TEST-LINUX-01=pass"}}},
		{"between the evaluation and the report", t2.Add(time.Hour), map[string][]string{
			dm.DeviceID: {"TEST-CHECKIN-01=fail", "TEST-LINUX-01=fail"},
			dd.DeviceID: {"TEST-CHECKIN-01=fail", "TEST-LINUX-01=pass"}}},
		{"after the report", t3, map[string][]string{
			dm.DeviceID: {"TEST-CHECKIN-01=fail", "TEST-LINUX-01=fail"},
			dd.DeviceID: {"TEST-CHECKIN-01=pass", "TEST-LINUX-01=pass"}}},
		{"after the policy change", t4, map[string][]string{
			dm.DeviceID: {"TEST-LINUX-01=fail"},
			dd.DeviceID: {"TEST-LINUX-01=pass"}}},
		{"after the revocation", t5.Add(24 * time.Hour), map[string][]string{
			dd.DeviceID: {"TEST-LINUX-01=pass"}}},
	}
	for _, s := range states {
		if d := cmp.Diff(s.want, e.statesAt(t, registry.HistoryFilter{To: s.at})); d != "" {
			t.Errorf("states %s (-want +got):\n%s", s.name, d)
		}
	}
	// Since is when the status in force began; one device's one policy.
	var since []time.Time
	err := e.reg.ComplianceStatesAt(ctx, registry.HistoryFilter{DeviceID: dd.DeviceID, PolicyID: "TEST-CHECKIN-01", To: t3.Add(time.Hour)}, func(s registry.PolicyState) error {
		since = append(since, s.Since)
		return nil
	})
	if err != nil || len(since) != 1 || !since[0].Equal(t3) {
		t.Errorf("Debian's TEST-CHECKIN-01 since %v (%v), want [%v]", since, err, t3)
	}

	rates, err := e.reg.DailyComplianceRates(ctx, "", day("2026-09-27"), day("2026-10-05"))
	if err != nil {
		t.Fatal(err)
	}
	type rate struct {
		Day, Policy         string
		Pass, Fail, InScope int
		Compliant           float64
	}
	var gotRates []rate
	for _, r := range rates {
		gotRates = append(gotRates, rate{r.Day, r.PolicyID, r.Pass, r.Fail, r.InScope, r.Compliant})
	}
	var wantRates []rate
	add := func(d string, fleet, checkin, linux rate) {
		for _, r := range []rate{fleet, checkin, linux} {
			r.Day = d
			wantRates = append(wantRates, r)
		}
	}
	none := func(p string) rate { return rate{Policy: p} }
	add("2026-09-27", none(""), none("TEST-CHECKIN-01"), none("TEST-LINUX-01"))
	for _, d := range []string{"2026-09-28", "2026-09-29", "2026-09-30"} {
		add(d, rate{"", "", 1, 1, 2, 0.5}, rate{"", "TEST-CHECKIN-01", 2, 0, 2, 1}, rate{"", "TEST-LINUX-01", 1, 1, 2, 0.5})
	}
	add("2026-10-01", rate{"", "", 0, 2, 2, 0}, rate{"", "TEST-CHECKIN-01", 0, 2, 2, 0}, rate{"", "TEST-LINUX-01", 1, 1, 2, 0.5})
	add("2026-10-02", rate{"", "", 1, 1, 2, 0.5}, rate{"", "TEST-CHECKIN-01", 1, 1, 2, 0.5}, rate{"", "TEST-LINUX-01", 1, 1, 2, 0.5})
	add("2026-10-03", rate{"", "", 1, 1, 2, 0.5}, none("TEST-CHECKIN-01"), rate{"", "TEST-LINUX-01", 1, 1, 2, 0.5})
	add("2026-10-04", rate{"", "", 1, 0, 1, 1}, none("TEST-CHECKIN-01"), rate{"", "TEST-LINUX-01", 1, 0, 1, 1})
	if d := cmp.Diff(wantRates, gotRates); d != "" {
		t.Errorf("daily rates (-want +got):\n%s", d)
	}
	// One policy; a period ending mid-day counts that day at its end.
	rates, err = e.reg.DailyComplianceRates(ctx, "TEST-CHECKIN-01", t2.Add(-time.Hour), t2.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 1 || rates[0].Day != "2026-10-01" || rates[0].Fail != 2 || rates[0].InScope != 2 {
		t.Errorf("TEST-CHECKIN-01 on 2026-10-01 until 12:30: %+v, want one day, 2 failing", rates)
	}
	rates, err = e.reg.DailyComplianceRates(ctx, "TEST-CHECKIN-01", t2.Add(-time.Hour), t2.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 1 || rates[0].Pass != 2 {
		t.Errorf("TEST-CHECKIN-01 on 2026-10-01 until 11:59: %+v, want 2 passing", rates)
	}
	for _, bad := range [][2]time.Time{{t2, t2}, {t2, t1}, {t1, t1.AddDate(3, 0, 0)}} {
		if _, err := e.reg.DailyComplianceRates(ctx, "", bad[0], bad[1]); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("rates from %v to %v: err %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}

	// The revoked Mac enrols again and continues its record: its stored
	// results count again.
	t6 := t5.Add(time.Hour)
	e.enroll(t, e.secret(t), wire.IdentityOf(snapshotOf(t, mac)), t6)
	if d := cmp.Diff([]string{"TEST-LINUX-01=fail"}, e.statesAt(t, registry.HistoryFilter{DeviceID: dm.DeviceID, To: t6})[dm.DeviceID]); d != "" {
		t.Errorf("the re-enrolled Mac's states (-want +got):\n%s", d)
	}
}

// TestComplianceHistoryBackfill: migration 0016 starts the history of an
// existing collector from each unrevoked device's stored results, at the
// time they were evaluated, with no previous status.
func TestComplianceHistoryBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, checkinAndLinux)
	t1 := time.Date(2026, 9, 28, 10, 0, 0, 0, time.UTC)
	dm := e.reported(t, snapshotOf(t, mac), t1)
	dd := e.reported(t, snapshotOf(t, debian), t1.Add(time.Hour))
	if _, err := e.reg.RevokeDevice(ctx, dm.DeviceID, t1.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The collector as it was before 0016 (and 0025, which compacts what
	// 0016 stored, 0027 and 0028, which move the reasons' texts into
	// their dictionary: its results documents carried the texts, and
	// 0029, which stores a row per device and instant).
	db := registry.RawDB(t, e.store)
	reasonTextsInline(t, db)
	for _, stmt := range []string{`DROP VIEW compliance_transitions`, `DROP TABLE compliance_changes`, `DROP TABLE compliance_reasons`, `DROP TABLE compliance_reasons_epoch`, `DELETE FROM schema_migrations WHERE version IN (16, 25, 27, 28, 29)`} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	r := registry.OpenTestStore(t, e.store)

	_, stored := e.results(t, dd.DeviceID)
	got := transitionsOf(t, r, registry.HistoryFilter{})
	var want []registry.ComplianceTransition
	for _, p := range []string{"TEST-CHECKIN-01", "TEST-LINUX-01"} {
		want = append(want, registry.ComplianceTransition{DeviceID: dd.DeviceID, PolicyID: p, At: t1.Add(time.Hour),
			Status: stored[p].Status, Reason: stored[p].Reason})
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("backfilled transitions, the revoked Mac left out (-want +got):\n%s", d)
	}
	if want[0].Status != compliance.StatusPass || want[1].Status != compliance.StatusPass {
		t.Errorf("Debian's stored results %+v, want both passing", stored)
	}
}

// reasonTextsInline rewrites every stored results document to the form it
// had before migration 0027: the reasons' texts in place of their ids.
func reasonTextsInline(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	docs := storedDocs(t, db)
	for id, doc := range docs {
		rs, err := compliance.DecodeResults(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rs {
			if rs[i].ReasonID == 0 {
				continue
			}
			if err := db.QueryRowContext(ctx, `SELECT text FROM compliance_reasons WHERE id = $1`, rs[i].ReasonID).Scan(&rs[i].Reason); err != nil {
				t.Fatal(err)
			}
			rs[i].ReasonID = 0
		}
		b, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE device_compliance SET results = $1 WHERE device_id = $2`, string(b), id); err != nil {
			t.Fatal(err)
		}
	}
}
