package registry

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// seededFleet is a test store holding n devices with the facts of the
// richest captured host.
func seededFleet(t *testing.T, n int) *Registry {
	t.Helper()
	r := OpenTestStore(t, NewTestStore(t))
	facts := []compliance.Facts{compliance.FactsFromSnapshot(registrytest.Rich(t))}
	if err := SeedFleet(context.Background(), r, n, facts, [][]wire.Package{nil}, time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFleetPartsCoverTheFleet: the ranges of device numbers the fleet
// evaluation reads at once hand over every device exactly once, for any
// number of readers, on the engine under test.
func TestFleetPartsCoverTheFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := seededFleet(t, 37)
	var all []string
	if _, _, err := r.scanFleet(ctx, r.db, "", nil, 0, func(d *evalDevice, _ []byte) { all = append(all, d.id) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	if len(all) != 37 {
		t.Fatalf("one read found %d devices, want 37", len(all))
	}
	for k := 1; k <= 6; k++ {
		parts, err := r.fleetParts(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != k {
			t.Errorf("%d readers: %d ranges", k, len(parts))
		}
		var got []string
		for _, p := range parts {
			if _, _, err := r.scanFleet(ctx, r.db, p.cond, p.args, 0, func(d *evalDevice, _ []byte) { got = append(got, d.id) }); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(got)
		if !slices.Equal(all, got) {
			t.Errorf("%d readers: the ranges hand over %d devices (%d distinct), want each of the %d once", k, len(got), len(slices.Compact(slices.Clone(got))), len(all))
		}
	}
}

// TestFleetFactsKeysReadTheIndex: the fleet evaluation's read of every
// device's facts version goes through the index of those two columns, not
// the table with the facts texts (migration 0026), and gives every
// device's version.
func TestFleetFactsKeysReadTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := seededFleet(t, 5)
	n := 0
	err := eachRow(ctx, r.db, fleetFactsKeys, nil, func(rows *sql.Rows) error {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		if v != compliance.FactsVersion {
			t.Errorf("device %s: facts version %d, want %d", id, v, compliance.FactsVersion)
		}
		n++
		return nil
	})
	if err != nil || n != 5 {
		t.Fatalf("read %d devices' facts versions, %v; want 5", n, err)
	}
	if r.dia.postgres() {
		return
	}
	if plan := queryPlan(t, r, fleetFactsKeys); !strings.Contains(plan, "COVERING INDEX device_facts_keys") {
		t.Errorf("plan of %s:\n%s\nwant the covering index device_facts_keys", fleetFactsKeys, plan)
	}
}

// TestFactsTextUpdateLeavesTheIndex: on SQLite, the statement a report
// rewrites its facts with changes the table's row and no index entry, so
// the index of facts versions costs reports nothing (most change their
// facts' collected_at).
func TestFactsTextUpdateLeavesTheIndex(t *testing.T) {
	t.Parallel()
	r := OpenTestStore(t, NewTestStore(t))
	if r.dia.postgres() {
		t.Skip("SQLite's program")
	}
	writesNoIndex(t, r, "the facts text update", updateFactsText, "d", "{}", 1)
}

// TestResultsUpdateLeavesTheIndexes: on SQLite, the fleet evaluation's
// update of results (and the state with them) changes device_compliance's
// rows and no index entry: with the index on state (dropped by 0030) it
// took an entry out and put one back for every device, a fifth of the
// updates' time at 100,000 devices.
func TestResultsUpdateLeavesTheIndexes(t *testing.T) {
	t.Parallel()
	r := OpenTestStore(t, NewTestStore(t))
	if r.dia.postgres() {
		t.Skip("SQLite's program")
	}
	args := []any{}
	for range 2 {
		args = append(args, "fail", "[]", "", "d", int64(1), int64(1))
	}
	writesNoIndex(t, r, "the results update", updateResultsSQL(r.dia, 2), append(args, "2026-12-07T00:00:00Z")...)
}

// writesNoIndex fails t when SQLite's program for stmt writes an index
// entry, or writes no table row (the check would prove nothing).
func writesNoIndex(t *testing.T, r *Registry, what, stmt string, args ...any) {
	t.Helper()
	program := sqliteProgram(t, r, stmt, args...)
	if n := count(program, "IdxInsert") + count(program, "IdxDelete"); n > 0 {
		t.Errorf("%s writes %d index entries", what, n)
	}
	if !slices.Contains(program, "Insert") {
		t.Errorf("%s: program %v writes no table row: the check no longer reads SQLite's program", what, program)
	}
}

// sqliteProgram is the opcodes of SQLite's program for stmt (EXPLAIN).
func sqliteProgram(t *testing.T, r *Registry, stmt string, args ...any) []string {
	t.Helper()
	rows, err := r.db.QueryContext(context.Background(), `EXPLAIN `+stmt, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var program []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		program = append(program, fmt.Sprint(vals[1]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return program
}

func count(program []string, op string) int {
	n := 0
	for _, o := range program {
		if o == op {
			n++
		}
	}
	return n
}

// TestReportDeviceUpdateWritesOneIndex: on SQLite, the device UPDATE of a
// report that leaves the identity as it was rewrites the entry of one
// index (last_seen's, which every report moves); the one of a report that
// moves the identity rewrites those of the hostname, serial, UUID and MACs
// too (SQLite rewrites an index entry whenever an UPDATE assigns its
// column, changed or not).
func TestReportDeviceUpdateWritesOneIndex(t *testing.T) {
	t.Parallel()
	r := OpenTestStore(t, NewTestStore(t))
	if r.dia.postgres() {
		t.Skip("SQLite's program")
	}
	facts := make([]any, 21)
	for i := range facts {
		facts[i] = ""
	}
	for _, c := range []struct {
		what  string
		stmt  string
		args  []any
		index int
	}{
		{"a report's device update", updateDevice, append(facts[:21:21], "d"), 1},
		{"a report's device update with its identity", updateDeviceIdentity, append(facts[:21:21], "h", "s", "u", "b", "m", "d"), 5},
	} {
		program := sqliteProgram(t, r, c.stmt, c.args...)
		if got := count(program, "IdxInsert"); got != c.index {
			t.Errorf("%s inserts %d index entries, want %d: %v", c.what, got, c.index, program)
		}
	}
}
