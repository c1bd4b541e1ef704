package registry

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSearchStagesMatchReference seeds a fleet large enough for broad
// queries (more than searchCap matching keys, so SearchDevices walks the
// fleet) and checks every query against a reference that scores every
// stored key and sorts them all, on the engine under test.
func TestSearchStagesMatchReference(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 6,000 devices")
	}
	t.Parallel()
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f, err := seedSearchFleet(ctx, r, 6000, now)
	if err != nil {
		t.Fatal(err)
	}

	// Everything the reference needs, read once.
	type key struct{ kind, key, device, asset string }
	var keys []key
	rows, err := r.db.QueryContext(ctx, `SELECT k.kind, k.key, coalesce(nullif(k.device_id, ''), l.device_id, ''), k.asset_id
		FROM search_keys k LEFT JOIN asset_links l ON k.device_id = '' AND l.asset_id = k.asset_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.kind, &k.key, &k.device, &k.asset); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	seen := map[string]string{}
	rows, err = r.db.QueryContext(ctx, `SELECT id, last_seen FROM devices`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, at string
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		seen[id] = at
	}
	rows.Close()

	type hit struct {
		Subject, Matched string
		Rank             int
	}
	reference := func(q string, limit int) (out []hit, broad []int) {
		p := &searchPlan{q: searchNorm(q)}
		if m, ok := macKey(p.q); ok && len(m) >= minMACPrefix {
			p.mac = m
		}
		// A device id prefix names a device only when unique.
		for _, k := range keys {
			if k.kind == MatchDeviceID && len(p.q) >= minIDPrefix && strings.HasPrefix(k.key, p.q) {
				if p.id != "" {
					p.id = "-"
					break
				}
				p.id = k.key
			}
		}
		type sub struct {
			id          string
			score, rank int
			seen        string
		}
		best := map[string]*sub{}
		perTier := make([]int, 4)
		for _, k := range keys {
			s, ok := p.score(k.kind, k.key)
			if !ok {
				continue
			}
			id, rank := k.device, s/16*2
			if id == "" {
				id, rank = "asset:"+k.asset, rank+1
			} else {
				perTier[s/16]++
			}
			if b := best[id]; b == nil || s < b.score {
				best[id] = &sub{id, s, rank, seen[k.device]}
			}
		}
		var subs []*sub
		for _, s := range best {
			subs = append(subs, s)
		}
		slices.SortFunc(subs, func(a, b *sub) int {
			if c := a.rank - b.rank; c != 0 {
				return c
			}
			if c := strings.Compare(b.seen, a.seen); c != 0 {
				return c
			}
			if c := a.score - b.score; c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		for _, s := range subs[:min(len(subs), limit)] {
			out = append(out, hit{s.id, searchKinds[s.score%16], s.rank})
		}
		return out, perTier
	}

	broadPrefix, broadSubstring := false, false
	for _, q := range []string{"lt", "lt-", "ws-berlin", "an", "anna", "smith", "er", "berlin", "in", "mbp-oslo-0", "lap-00",
		f.hostnames[7], f.serials[9], f.tags[11], f.emails[13], f.ids[17][:8], strings.ToUpper(f.macs[19]), "spare", "nothing-here"} {
		for _, limit := range []int{5, 20, 100} {
			want, perTier := reference(q, limit)
			broadPrefix = broadPrefix || perTier[2] > searchCap
			broadSubstring = broadSubstring || perTier[3] > searchCap
			hits, err := r.SearchDevices(ctx, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []hit
			for _, h := range hits {
				s := h.DeviceID
				if s == "" {
					// The reference names an unlinked asset by id;
					// the hit by tag.
					for _, k := range keys {
						if k.device == "" && k.kind == MatchAssetTag && k.key == strings.ToLower(h.AssetTag) {
							s = "asset:" + k.asset
						}
					}
				}
				got = append(got, hit{s, h.Matched, h.Rank})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("search %q limit %d (-reference +got):\n%s", q, limit, diff)
			}
		}
	}
	if !broadPrefix || !broadSubstring {
		t.Errorf("no query was broad (prefix %v, substring %v): the walk went untested", broadPrefix, broadSubstring)
	}
}
