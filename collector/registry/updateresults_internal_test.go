package registry

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/collector/compliance"
)

// TestUpdateResultsKeepsNewerResults: the fleet evaluation's batched
// update (updateResults) writes a device's results only under the rev it
// read them with. A device a report re-evaluated meanwhile (its rev moved
// on) keeps the report's results and is not reported as updated; a device
// with no row is left to the caller's insert. More devices than one
// statement holds are updated, with the time and the rev bump.
func TestUpdateResultsKeepsNewerResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, now := storeBefore(t, compactHistoryMigration+1)
	names, snaps, enrol := capturedHosts(t, r, now)
	n := updateChunk + 3
	var batch []outcome
	want := map[string]bool{}
	stale := map[string]bool{}
	for i := range n {
		d := enrol(snaps[names[i%len(names)]])
		dev := &evalDevice{id: d.id, stored: i%50 != 7, rev: 4}
		if dev.stored {
			err := r.write(ctx, func(tx *sql.Tx) error {
				rev := 4
				if i%10 == 3 { // a report wrote newer results since the read
					rev = 5
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO device_compliance (device_id, rev, state, results, failing, evaluated_at) VALUES ($1, $2, 'pass', '[]', '', '')`, d.id, rev)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if i%10 == 3 {
				stale[d.id] = true
			} else {
				want[d.id] = true
			}
		}
		doc := fmt.Sprintf(`[{"policy_id":"P","status":"fail","reason":"device %d"}]`, i)
		batch = append(batch, outcome{dev: dev, Diff: compliance.Diff{State: compliance.StatusFail, Doc: doc, Failing: "P=" + fmtTime(now)}})
	}
	var got map[string]bool
	err := r.Write(ctx, func(tx *Tx) error {
		var err error
		got, err = updateResults(ctx, tx, batch, fmtTime(now))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("devices updated (-want +got):\n%s", d)
	}
	for i, o := range batch {
		if !o.dev.stored {
			continue
		}
		var rev int64
		var state, results, failing, at string
		if err := r.db.QueryRowContext(ctx, `SELECT rev, state, results, failing, evaluated_at FROM device_compliance WHERE device_id = $1`, o.dev.id).
			Scan(&rev, &state, &results, &failing, &at); err != nil {
			t.Fatal(err)
		}
		if stale[o.dev.id] {
			if rev != 5 || state != "pass" || results != "[]" {
				t.Errorf("device %d (newer results stored): rev %d, %s %s; want the report's, rev 5", i, rev, state, results)
			}
			continue
		}
		if rev != 5 || state != o.State || results != o.Doc || failing != o.Failing || at != fmtTime(now) {
			t.Errorf("device %d: rev %d, %s %s %s at %s; want rev 5 and %s %s %s at %s", i, rev, state, results, failing, at, o.State, o.Doc, o.Failing, fmtTime(now))
		}
	}
}
