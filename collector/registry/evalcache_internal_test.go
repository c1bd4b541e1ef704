package registry

import (
	"context"
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

func TestEvalCacheRoom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ limit, workers, want int }{
		{0, 1, defaultEvalEntries},
		{0, 2, defaultEvalEntries / 2},
		{10, 3, 3},
		{10, 0, 10},
	} {
		c := evalCache{limit: tc.limit}
		if got := c.room(tc.workers); got != tc.want {
			t.Errorf("limit %d, %d workers: got room %d, want %d", tc.limit, tc.workers, got, tc.want)
		}
	}
}
