package registry

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// historyIndexMigration narrowed history's device index to the device id
// (0022_history_device_index.sql).
const historyIndexMigration = 22

// TestMigrateHistoryDeviceIndex stores history as the schema before
// migration 0022 held it (entries of real captured packages, recorded at
// times that go backwards, so time order is not id order), reads each
// device's history as History and RecentChanges give it, migrates, and
// checks that every read gives the same entries in the same order, page by
// page, and that on SQLite a device's history is read through the new
// index without sorting.
func TestMigrateHistoryDeviceIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, now := storeBefore(t, historyIndexMigration)
	names, snaps, enrol := capturedHosts(t, r, now)
	var devs []string
	for i, name := range names {
		d := enrol(snaps[name])
		devs = append(devs, d.id)
		pkgs := snaps[name].Software.Packages
		err := r.write(ctx, func(tx *sql.Tx) error {
			for k, p := range pkgs[:min(len(pkgs), 40)] {
				// later entries at earlier times, interleaved across devices
				at := now.Add(-time.Duration(k*len(names)+i) * time.Minute)
				ch := deviceChange{Kind: KindSoftwareAdded, Subject: p.Source + ":" + p.Name + ":" + p.Arch, New: p.Version}
				if k%5 == 4 {
					ch = deviceChange{Kind: KindSoftwareRemoved, Subject: ch.Subject, Old: p.Version}
				}
				if err := insertHistory(ctx, &Tx{Tx: tx}, d.id, at, uint64(k+1), []deviceChange{ch}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	since, until := now.Add(-3*time.Hour), now.Add(-30*time.Minute)
	reads := func() map[string][]HistoryEntry {
		t.Helper()
		out := map[string][]HistoryEntry{}
		for _, id := range devs {
			for name, f := range map[string]HistoryFilter{
				"all":     {Device: id},
				"period":  {Device: id, Since: &since, Until: &until},
				"removed": {Device: id, Kind: KindSoftwareRemoved},
			} {
				cursor := ""
				for {
					page, next, err := r.History(ctx, f, Page{Limit: 7, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					out[id+" "+name] = append(out[id+" "+name], page...)
					if next == "" {
						break
					}
					cursor = next
				}
			}
			recent, err := r.RecentChanges(ctx, id, 9)
			if err != nil {
				t.Fatal(err)
			}
			out[id+" recent"] = recent
		}
		return out
	}
	before := reads()
	for _, id := range devs {
		if n := len(before[id+" all"]); n < 10 {
			t.Fatalf("device %s has %d history entries, want at least 10", id, n)
		}
		if len(before[id+" period"]) == 0 || len(before[id+" period"]) == len(before[id+" all"]) {
			t.Fatalf("the period selects %d of %d entries of %s; it should select some", len(before[id+" period"]), len(before[id+" all"]), id)
		}
	}
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, reads()); diff != "" {
		t.Errorf("history after migration 0022 (-before +after):\n%s", diff)
	}

	if r.Engine() != EngineSQLite {
		return
	}
	for _, q := range []string{
		`SELECT ` + historyCols + ` FROM history h JOIN devices d ON d.id = h.device_id WHERE h.device_id = $1 AND h.id > $2 ORDER BY h.id LIMIT $3`,
		`SELECT ` + historyCols + ` FROM history h JOIN devices d ON d.id = h.device_id WHERE h.device_id = $1 ORDER BY h.id DESC LIMIT $2`,
	} {
		plan := queryPlan(t, r, q, devs[0], 0, 10)
		if !strings.Contains(plan, "history_device ") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %s:\n%s\nwant history_device and no sort", q, plan)
		}
	}
}

// storeBefore opens a test store with the migrations before migration
// applied, and the time the tests store their rows at.
func storeBefore(t *testing.T, migration int) (*Registry, time.Time) {
	t.Helper()
	r, err := OpenStore(context.Background(), NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	migrateUpTo(t, r, migration-1)
	return r, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, one step a line.
func queryPlan(t *testing.T, r *Registry, q string, args ...any) string {
	t.Helper()
	n := strings.Count(q, "$")
	rows, err := r.db.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args[:n]...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
