package registry_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/retention"
	"github.com/rosterhq/roster/shared/wire"
)

// storedDocs returns every device's stored results document.
func storedDocs(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT device_id, results FROM device_compliance`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			t.Fatal(err)
		}
		out[id] = doc
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestResultsNameReasonsByID: a device's stored results document names its
// reasons by their ids in compliance_reasons, which holds each text once
// however many devices share it, and the device's compliance reads with
// the texts, from this collector and from one that just started (which
// has none of the ids in memory).
func TestResultsNameReasonsByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, string(compliance.DefaultFile()))
	a := e.reported(t, snapshotOf(t, debian), t0)
	b := e.reported(t, snapshotOf(t, debian), t0)
	m := e.reported(t, snapshotOf(t, mac), t0)
	docs := storedDocs(t, registry.RawDB(t, e.store))
	if len(docs) != 3 {
		t.Fatalf("stored documents: %v, want 3", docs)
	}
	for id, doc := range docs {
		if !namesReasonsByID(t, doc) {
			t.Errorf("%s's stored results name a reason by its text, or none by id: %s", id, doc)
		}
	}
	var rows, distinct int
	if err := registry.RawDB(t, e.store).QueryRowContext(ctx, `SELECT count(*), count(DISTINCT text) FROM compliance_reasons`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	_, ra := e.results(t, a.DeviceID)
	_, rm := e.results(t, m.DeviceID)
	texts := map[string]bool{}
	for _, rs := range []map[string]registry.ResultRecord{ra, rm} {
		for _, r := range rs {
			if r.Reason == "" {
				t.Errorf("%s has no reason", r.PolicyID)
			}
			texts[r.Reason] = true
		}
	}
	if rows != distinct || rows != len(texts) {
		t.Errorf("compliance_reasons holds %d rows, %d distinct, for the devices' %d distinct reasons", rows, distinct, len(texts))
	}
	fresh := &env{reg: registry.OpenTestStore(t, e.store), store: e.store}
	for _, d := range []enrolled{a, b, m} {
		want, err := e.reg.DeviceComplianceOf(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fresh.reg.DeviceComplianceOf(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s read by a collector that just started (-this one +that one):\n%s", d.DeviceID, diff)
		}
	}
	if diff := cmp.Diff(ra, mustResults(t, e, b.DeviceID)); diff != "" {
		t.Errorf("two devices of the same host (-a +b):\n%s", diff)
	}
	// The first results are each a transition from nothing, with the
	// result's reason (stored by id too, 0028).
	got := transitionsOf(t, fresh.reg, registry.HistoryFilter{DeviceID: a.DeviceID})
	if len(got) != len(ra) {
		t.Fatalf("%d transitions of %s, want %d", len(got), a.DeviceID, len(ra))
	}
	for _, tr := range got {
		if want := ra[tr.PolicyID]; tr.Status != want.Status || tr.Reason != want.Reason || tr.Reason == "" {
			t.Errorf("transition %+v, want the result %+v", tr, want)
		}
	}
	var orphans int
	if err := registry.RawDB(t, e.store).QueryRowContext(ctx, `SELECT count(*) FROM compliance_transitions t
		WHERE reason_id <> 0 AND NOT EXISTS (SELECT 1 FROM compliance_reasons r WHERE r.id = t.reason_id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d transitions name a reason compliance_reasons lacks (%v)", orphans, err)
	}
}

func mustResults(t *testing.T, e *env, device string) map[string]registry.ResultRecord {
	t.Helper()
	_, rs := e.results(t, device)
	return rs
}

// TestResultsWithReasonTextsRead: documents stored before migration 0027
// carry their reasons' texts. They read as before; a fleet evaluation
// rewrites them with ids once, recording no status change and announcing
// nothing; the next one leaves them.
func TestResultsWithReasonTextsRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, checkinAndLinux)
	d := e.reported(t, snapshotOf(t, debian), t0)
	m := e.reported(t, snapshotOf(t, mac), t0)
	before := map[string]map[string]registry.ResultRecord{d.DeviceID: mustResults(t, e, d.DeviceID), m.DeviceID: mustResults(t, e, m.DeviceID)}
	transitions := len(transitionsOf(t, e.reg, registry.HistoryFilter{}))
	summary, err := e.reg.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reasonTextsInline(t, registry.RawDB(t, e.store))
	for id, doc := range storedDocs(t, registry.RawDB(t, e.store)) {
		if !strings.Contains(doc, `"reason":`) || strings.Contains(doc, `"reason_id":`) {
			t.Fatalf("%s's document after rewriting it with texts: %s", id, doc)
		}
	}
	// A collector that just started, as after the upgrade.
	r := registry.OpenTestStore(t, e.store)
	up := &env{reg: r, store: e.store}
	up.configure(t, checkinAndLinux)
	for id, want := range before {
		if diff := cmp.Diff(want, mustResults(t, up, id)); diff != "" {
			t.Errorf("%s read from a document with texts (-before +after):\n%s", id, diff)
		}
	}
	// The fleet's counts read the documents in SQL, in either form.
	if got, err := r.Summary(ctx); err != nil || !cmp.Equal(summary, got) {
		t.Errorf("summary of documents with texts: %v\n%s", err, cmp.Diff(summary, got))
	}
	evs := len(up.events(t, registry.EventFilter{}))
	stats, err := r.EvaluateAll(ctx, t0.Add(time.Minute))
	if err != nil || stats.Changed != 2 {
		t.Fatalf("first evaluation after the upgrade: %+v, %v; want both documents rewritten", stats, err)
	}
	for id, doc := range storedDocs(t, registry.RawDB(t, e.store)) {
		if !namesReasonsByID(t, doc) {
			t.Errorf("%s's document after the evaluation: %s", id, doc)
		}
	}
	if n := len(transitionsOf(t, r, registry.HistoryFilter{})); n != transitions {
		t.Errorf("rewriting the documents recorded %d transitions, want none", n-transitions)
	}
	if n := len(up.events(t, registry.EventFilter{})); n != evs {
		t.Errorf("rewriting the documents announced %d events, want none", n-evs)
	}
	for id, want := range before {
		if diff := cmp.Diff(want, mustResults(t, up, id)); diff != "" {
			t.Errorf("%s after the rewrite (-before +after):\n%s", id, diff)
		}
	}
	if stats, err := r.EvaluateAll(ctx, t0.Add(2*time.Minute)); err != nil || stats.Changed != 0 {
		t.Errorf("second evaluation: %+v, %v; want nothing changed", stats, err)
	}
}

// TestSweptReasonsAreGivenAgain: the compliance history's purge deletes the
// reasons nothing names any more, on one collector; another collector that
// still holds the id of one of them in memory gives the text a new id when
// a device needs it again, instead of writing the deleted one. Without the
// epoch check its next report would store a document naming a reason that
// no longer exists.
func TestSweptReasonsAreGivenAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.configure(t, kernelPolicy)
	now := t0.Add(900 * days)
	s := snapshotOf(t, debian)
	old := s.OS.Kernel
	d := e.enroll(t, e.secret(t), wire.IdentityOf(s), now.Add(-500*days))
	for i, st := range []struct {
		kernel string
		at     time.Time
	}{{old, now.Add(-500 * days)}, {old + "-next", now.Add(-450 * days)}} {
		if ack := e.apply(t, d, full(t, withKernel(t, s, st.kernel, st.at), uint64(i+1)), st.at); ack.Status != wire.AckApplied {
			t.Fatalf("report %d: %+v", i+1, ack)
		}
	}
	_, failing := e.results(t, d.DeviceID)
	if failing["TEST-KERNEL-01"].Status != compliance.StatusPass {
		t.Fatalf("after the second report: %+v, want a pass", failing)
	}
	db := registry.RawDB(t, e.store)
	var before int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_reasons WHERE text = 'old kernel'`).Scan(&before); err != nil || before != 1 {
		t.Fatalf("'old kernel' stored %d times (%v), want once", before, err)
	}

	// Another collector purges: the failing transition is older than the
	// cutoff and not the newest, so "old kernel" is named by nothing.
	other := registry.OpenTestStore(t, e.store)
	p := retention.Policy{Rules: []retention.Rule{{Kind: retention.ComplianceHistory, Keep: 400 * days}}}
	plan, err := other.PurgePlan(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := other.Purge(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plan.Kinds[0].Tables, rep.Kinds[0].Tables); diff != "" {
		t.Errorf("dry run and purge differ (-plan +purge):\n%s", diff)
	}
	if n := rep.Kinds[0].Tables["compliance_reasons"]; n < 1 {
		t.Fatalf("purge removed %d reasons, want 'old kernel' at least: %+v", n, rep.Kinds[0].Tables)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_reasons WHERE text = 'old kernel'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("'old kernel' left %d times after the sweep (%v)", left, err)
	}

	// The first collector, which holds the swept id, sees the device fail
	// again.
	if ack := e.apply(t, d, full(t, withKernel(t, s, old, now), 3), now); ack.Status != wire.AckApplied {
		t.Fatalf("report 3: %+v", ack)
	}
	var dangling int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_transitions t
		WHERE reason_id <> 0 AND NOT EXISTS (SELECT 1 FROM compliance_reasons r WHERE r.id = t.reason_id)`).Scan(&dangling); err != nil || dangling != 0 {
		t.Errorf("%d transitions name a deleted reason (%v)", dangling, err)
	}
	fresh := &env{reg: registry.OpenTestStore(t, e.store), store: e.store}
	_, got := fresh.results(t, d.DeviceID)
	if r := got["TEST-KERNEL-01"]; r.Status != compliance.StatusFail || r.Reason != "old kernel" {
		t.Errorf("after failing again, read by a collector that just started: %+v, want fail with 'old kernel'", r)
	}
	states := map[string]string{}
	for _, tr := range transitionsOf(t, fresh.reg, registry.HistoryFilter{DeviceID: d.DeviceID}) {
		states[tr.Status] = tr.Reason
	}
	if states[compliance.StatusFail] != "old kernel" {
		t.Errorf("transitions' reasons by status: %v, want the new failure's 'old kernel'", states)
	}
}

// namesReasonsByID says whether a stored results document is in the form
// this collector writes (arrays, compliance.StoredResult) and names every
// result's reason by its id, none by its text.
func namesReasonsByID(t *testing.T, doc string) bool {
	t.Helper()
	if !strings.HasPrefix(doc, "[[") {
		return false
	}
	rs, err := compliance.DecodeResults(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Reason != "" || r.ReasonID == 0 {
			return false
		}
	}
	return len(rs) > 0
}
