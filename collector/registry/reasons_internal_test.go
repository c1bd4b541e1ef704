package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/rosterhq/roster/collector/compliance"
)

// TestReasonIDsJoinTheDictionaryOnCommit: the ids a transaction gives new
// reasons are used for its own documents at once, but join the in-memory
// dictionary only once it commits. Rolled back, they are not there, and
// the text is given an id again by the next transaction; on SQLite that
// can be the same number, so an id kept from a rolled-back transaction
// could later name another text.
func TestReasonIDsJoinTheDictionaryOnCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	const text = "pending security updates unknown: apt-get: command not found"
	newDiff := func() *compliance.Diff {
		o, err := compliance.DiffResults("", "", []compliance.Result{{PolicyID: "P-1", Status: compliance.StatusUnknown, Reason: text}},
			fmtTime, r.reasons.id)
		if err != nil || !o.Changed || o.Doc != "" {
			t.Fatalf("DiffResults with a new reason: changed %v, doc %q, %v", o.Changed, o.Doc, err)
		}
		return &o
	}
	failed := errors.New("the rest of the write failed")
	o := newDiff()
	err := r.Write(ctx, func(tx *Tx) error {
		if err := assignReasons(ctx, tx, []*compliance.Diff{o}); err != nil {
			return err
		}
		if o.Doc == "" {
			t.Error("no document after assignReasons")
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("write: %v", err)
	}
	if id, ok := r.reasons.id(text); ok {
		t.Fatalf("a rolled-back transaction's id %d is in the dictionary", id)
	}
	var rows int
	if err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM compliance_reasons`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("compliance_reasons after the rollback: %d rows, %v", rows, err)
	}

	o = newDiff()
	if err := r.Write(ctx, func(tx *Tx) error { return assignReasons(ctx, tx, []*compliance.Diff{o}) }); err != nil {
		t.Fatal(err)
	}
	id, ok := r.reasons.id(text)
	if !ok {
		t.Fatal("a committed id is not in the dictionary")
	}
	var stored string
	if err := r.db.QueryRowContext(ctx, `SELECT text FROM compliance_reasons WHERE id = $1`, id).Scan(&stored); err != nil || stored != text {
		t.Fatalf("id %d is %q in the store, %v", id, stored, err)
	}
	rs, err := compliance.DecodeResults(o.Doc)
	if err != nil || len(rs) != 1 || rs[0].ReasonID != id {
		t.Fatalf("document %s names reason %v, want %d (%v)", o.Doc, rs, id, err)
	}
}
