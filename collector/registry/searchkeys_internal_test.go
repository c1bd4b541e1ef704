package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// searchKeysPartialMigration made search_keys' device and asset indexes
// partial (0024_search_keys_partial.sql).
const searchKeysPartialMigration = 24

// TestMigrateSearchKeysPartial stores captured devices and assets (owned,
// some linked to a device) under the schema before migration 0024,
// searches for each by hostname, serial, tag, owner and id prefix,
// migrates, and checks that every search finds the same, in the same
// order, and that on SQLite the queries reading a device's or an asset's
// keys use the partial indexes.
func TestMigrateSearchKeysPartial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, now := storeBefore(t, searchKeysPartialMigration)
	names, snaps, enrol := capturedHosts(t, r, now)
	var queries []string
	for i, name := range names {
		s := snaps[name]
		d := enrol(s)
		if err := r.write(ctx, func(tx *sql.Tx) error { return syncDeviceSearchKeys(ctx, tx, d.id) }); err != nil {
			t.Fatal(err)
		}
		tag, owner := fmt.Sprintf("MIG24-%02d", i), fmt.Sprintf("Owner Number%02d", i)
		email := fmt.Sprintf("owner%02d@example.com", i)
		status := "in_service"
		in := AssetInput{AssetTag: &tag, Owner: &owner, OwnerEmail: &email, Status: &status}
		if _, err := r.AddAsset(ctx, in, Actor{Name: "test"}, now); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := r.LinkAsset(ctx, tag, d.id, Actor{Name: "test"}, now); err != nil {
				t.Fatal(err)
			}
		}
		queries = append(queries, s.Hardware.Hostname, strings.ToLower(tag), "number", email, d.id[:8])
		if s.Hardware.SystemSerial != "" {
			queries = append(queries, s.Hardware.SystemSerial)
		}
	}
	queries = append(queries, "owner", "mig24")
	search := func() map[string][]SearchHit {
		t.Helper()
		out := map[string][]SearchHit{}
		for _, q := range queries {
			hits, err := r.SearchDevices(ctx, q, 50)
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			out[q] = hits
		}
		return out
	}
	before := search()
	found := 0
	for _, hits := range before {
		if len(hits) > 0 {
			found++
		}
	}
	if found < len(queries)/2 {
		t.Fatalf("%d of %d searches find something before the migration; the test searches for too little", found, len(queries))
	}
	if _, err := r.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, search()); diff != "" {
		t.Errorf("search after migration 0024 (-before +after):\n%s", diff)
	}

	if r.Engine() != EngineSQLite {
		return
	}
	for q, index := range map[string]string{
		`SELECT kind, key FROM search_keys WHERE device_id = $1 AND device_id <> ''`: "search_keys_device",
		`SELECT kind, key FROM search_keys WHERE asset_id = $1 AND asset_id <> ''`:   "search_keys_asset",
	} {
		if plan := queryPlan(t, r, q, "x"); !strings.Contains(plan, index+" ") {
			t.Errorf("plan of %s:\n%s\nwant %s", q, plan, index)
		}
	}
}
