package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
				if _, err := tx.ExecContext(ctx, `INSERT INTO device_compliance (device_id, rev, state, results, failing, evaluated_at) VALUES ($1, $2, 'pass', '[]', '', '')`, d.id, rev); err != nil {
					return err
				}
				// as the fleet read gives it
				return tx.QueryRowContext(ctx, `SELECT `+r.dia.rowid("c")+` FROM device_compliance c WHERE c.device_id = $1`, d.id).Scan(&dev.row)
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
		got, err = updateResults(ctx, tx, r.dia, batch, fmtTime(now))
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

// TestUpdateResultsByRowid: on SQLite the fleet evaluation's update finds
// each row by its rowid, not through the key index, and writes nothing to
// a row that is no longer the device's: a device whose row was deleted
// since the fleet was read, its rowid taken by another device's row.
func TestUpdateResultsByRowid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, now := storeBefore(t, compactHistoryMigration+1)
	if r.dia.postgres() {
		t.Skip("PostgreSQL rows are found by their key")
	}
	plan := queryPlan(t, r, updateResultsSQL(r.dia, 2), "pass", "[]", "", "a", 1, 1, "pass", "[]", "", "b", 2, 1, "t")
	if !strings.Contains(plan, "device_compliance USING INTEGER PRIMARY KEY (rowid=?)") || strings.Contains(plan, "sqlite_autoindex_device_compliance") {
		t.Errorf("plan of the update:\n%s\nwant device_compliance searched by rowid", plan)
	}
	names, snaps, enrol := capturedHosts(t, r, now)
	gone, other := enrol(snaps[names[0]]), enrol(snaps[names[1%len(names)]])
	var row int64
	err := r.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO device_compliance (device_id, rev, state, results, failing, evaluated_at) VALUES ($1, 1, 'pass', '[]', '', '') RETURNING rowid`, gone.id).Scan(&row); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_compliance WHERE device_id = $1`, gone.id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO device_compliance (rowid, device_id, rev, state, results, failing, evaluated_at) VALUES ($1, $2, 1, 'pass', '[]', '', '')`, row, other.id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := []outcome{{dev: &evalDevice{id: gone.id, stored: true, rev: 1, row: row}, Diff: compliance.Diff{State: compliance.StatusFail, Doc: `[{"policy_id":"P","status":"fail"}]`}}}
	var got map[string]bool
	err = r.Write(ctx, func(tx *Tx) error {
		var err error
		got, err = updateResults(ctx, tx, r.dia, batch, fmtTime(now))
		return err
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("updateResults = %v, %v; want nothing updated", got, err)
	}
	var rev int64
	var state, results string
	if err := r.db.QueryRowContext(ctx, `SELECT rev, state, results FROM device_compliance WHERE rowid = $1`, row).Scan(&rev, &state, &results); err != nil {
		t.Fatal(err)
	}
	if rev != 1 || state != "pass" || results != "[]" {
		t.Errorf("the other device's row: rev %d, %s %s; want it untouched", rev, state, results)
	}
}
