package registry

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/compliance"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestEvalCacheBounded: a fleet larger than the cache's bound keeps at
// most the bound's entries after each evaluation, and the devices left
// out are still judged the same (a second evaluation changes nothing).
func TestEvalCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	r.comp.cache.limit = 10
	snap := registrytest.Rich(t)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if err := SeedFleet(ctx, r, 37, []compliance.Facts{compliance.FactsFromSnapshot(snap)}, [][]wire.Package{nil}, now); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		stats, err := r.EvaluateAll(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Devices != 37 {
			t.Errorf("evaluation %d: got %d devices, want 37", i, stats.Devices)
		}
		if i == 1 && stats.Changed != 0 {
			t.Errorf("second evaluation: got %d changed devices, want 0", stats.Changed)
		}
		last := r.comp.cache.begin()
		if n := len(last); n == 0 || n > 10 {
			t.Errorf("evaluation %d: the cache holds %d entries, want 1 to 10", i, n)
		}
	}
}

func TestEvalCacheBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ limit, want int }{
		{0, defaultEvalEntries},
		{10, 10},
	} {
		c := evalCache{limit: tc.limit}
		if got := c.bound(); got != tc.want {
			t.Errorf("limit %d: got bound %d, want %d", tc.limit, got, tc.want)
		}
	}
}

// TestEvalCacheMatchesTheStore: after evaluations that rewrite every
// device's results, first from a cold read and then from the cache, and
// after one that changes nothing, each device's cache entry carries the
// key its stored row has now (rev, evaluated_at, facts version), facts
// and results, so the next evaluation reads no device again. An entry
// left unfilled or keyed under the rev it was read with would be read
// again every time.
func TestEvalCacheMatchesTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	snap := registrytest.Rich(t)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if err := SeedFleet(ctx, r, 23, []compliance.Facts{compliance.FactsFromSnapshot(snap)}, [][]wire.Package{nil}, now); err != nil {
		t.Fatal(err)
	}
	base := string(compliance.DefaultFile())
	extra := base + `
  - id: TEST-CEL-01
    title: no reboot pending
    severity: low
    kind: cel
    expr: os.reboot_required == "no"
`
	// "" evaluates again under the same policies.
	for i, doc := range []string{extra, base, extra, ""} {
		now = now.Add(time.Minute)
		var stats EvalStats
		var err error
		want := 23
		if doc == "" {
			want = 0
			stats, err = r.EvaluateAll(ctx, now)
		} else {
			_, _, stats, err = r.ReplacePolicies(ctx, []byte(doc), "test", now)
		}
		if err != nil {
			t.Fatal(err)
		}
		if stats.Devices != 23 || stats.Changed != want {
			t.Fatalf("change %d: %d devices evaluated, %d changed; want 23 and %d", i, stats.Devices, stats.Changed, want)
		}
		last := r.comp.cache.begin()
		rows := 0
		err = eachRow(ctx, r.db, `SELECT c.device_id, c.rev, c.evaluated_at, f.facts_v FROM device_compliance c JOIN device_facts f ON f.device_id = c.device_id`, nil, func(rs *sql.Rows) error {
			var id, at string
			var rev int64
			var v int
			if err := rs.Scan(&id, &rev, &at, &v); err != nil {
				return err
			}
			rows++
			e := last[id]
			switch {
			case e == nil:
				t.Errorf("change %d: device %s has no cache entry", i, id)
			case !e.stored || e.rev != rev || e.at != at || e.factsV != v:
				t.Errorf("change %d: device %s: entry keyed (%v, %d, %q, %d), row (true, %d, %q, %d)", i, id, e.stored, e.rev, e.at, e.factsV, rev, at, v)
			case e.facts == nil || len(e.results) == 0:
				t.Errorf("change %d: device %s: entry without facts or results", i, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rows != 23 || len(last) != 23 {
			t.Errorf("change %d: %d stored rows, %d cache entries; want 23 each", i, rows, len(last))
		}
	}
}
