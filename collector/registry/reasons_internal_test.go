package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
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

// TestSweepSeesReasonsInBothDocumentForms: the sweep's SQL finds the
// reasons a results document names whether it is stored as arrays (this
// collector's form) or as objects (documents written before, which stay
// until the device's results change), on both engines. A reason it missed
// would be deleted while a document still names it.
func TestSweepSeesReasonsInBothDocumentForms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	at := fmtTime(time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC))
	docs := map[string]string{
		"arrays":  `[["P-1","pass",%d],["P-2","fail",0,"","","` + at + `"]]`,
		"objects": `[{"policy_id":"P-1","status":"pass","reason_id":%d},{"policy_id":"P-2","status":"fail","failing_since":"` + at + `"}]`,
	}
	named := map[int64]bool{}
	err := r.Write(ctx, func(tx *Tx) error {
		for _, text := range []string{"named by arrays", "named by objects", "named by nothing"} {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO compliance_reasons (text) VALUES ($1) RETURNING id`, text).Scan(&id); err != nil {
				return err
			}
			form := strings.TrimPrefix(text, "named by ")
			doc, ok := docs[form]
			if !ok {
				continue
			}
			named[id] = true
			dev := uuid.NewString()
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, hostname, platform, first_seen, last_seen, enrolled_at) VALUES ($1, $2, 'linux', $3, $3, $3)`, dev, form, at); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_compliance (device_id, state, results, evaluated_at) VALUES ($1, 'fail', $2, $3)`, dev, fmt.Sprintf(doc, id), at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"arrays", "objects"} {
		var doc string
		if err := r.db.QueryRowContext(ctx, `SELECT c.results FROM device_compliance c JOIN devices d ON d.id = c.device_id WHERE d.hostname = $1`, d).Scan(&doc); err != nil {
			t.Fatal(err)
		}
		if rs, err := compliance.DecodeResults(doc); err != nil || len(rs) != 2 || !named[rs[0].ReasonID] {
			t.Fatalf("the %s document %s reads as %+v, %v", d, doc, rs, err)
		}
	}
	// No transitions here: only the documents name reasons.
	rows, err := r.db.QueryContext(ctx, `SELECT id, text FROM compliance_reasons WHERE `+unnamedReasons(r.dia))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var unnamed []string
	for rows.Next() {
		var id int64
		var text string
		if err := rows.Scan(&id, &text); err != nil {
			t.Fatal(err)
		}
		unnamed = append(unnamed, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"named by nothing"}; !slices.Equal(unnamed, want) {
		t.Errorf("the sweep would delete %q, want %q", unnamed, want)
	}
}
