package registry

import (
	"context"
	"testing"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

func TestChunks(t *testing.T) {
	t.Parallel()
	sizes := map[int]bool{}
	for n := range 2000 {
		sum := 0
		for _, c := range chunks(n) {
			if c < 1 || c > maxBatchRows || c&(c-1) != 0 {
				t.Fatalf("chunks(%d) has %d, want a power of two up to %d", n, c, maxBatchRows)
			}
			sum += c
			sizes[c] = true
		}
		if sum != n {
			t.Fatalf("chunks(%d) adds up to %d", n, sum)
		}
	}
	// a few statement texts for the drivers' caches
	if len(sizes) > 9 {
		t.Errorf("%d distinct chunk sizes, want at most 9", len(sizes))
	}
}

// TestCatalogueIDs: the batched lookup gives every package of a real host
// (hundreds, so several chunks) the id its catalogue row has, one by one,
// whether the row was there before or added by the batch, and the same
// id to equal packages, on the engine under test.
func TestCatalogueIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := OpenTestStore(t, NewTestStore(t))
	snap := registrytest.Rich(t)
	pkgs := snap.Software.Packages
	if len(pkgs) <= maxBatchRows {
		t.Fatalf("the rich capture has %d packages, want more than one chunk (%d)", len(pkgs), maxBatchRows)
	}
	// Every third package is catalogued beforehand; the input repeats a
	// few packages.
	in := append(append([]wire.Package{}, pkgs...), pkgs[0], pkgs[7], pkgs[len(pkgs)-1])
	err := r.Write(ctx, func(tx *Tx) error {
		for i := 0; i < len(pkgs); i += 3 {
			p := pkgs[i]
			if _, err := tx.ExecContext(ctx, `INSERT INTO software_catalogue (name, version, source, arch, publisher, location) VALUES ($1, $2, $3, $4, $5, $6)`,
				p.Name, p.Version, p.Source, p.Arch, p.Publisher, p.Location); err != nil {
				return err
			}
		}
		ids, err := (&catalogue{tx: tx}).ids(ctx, in)
		if err != nil {
			return err
		}
		if len(ids) != len(in) {
			t.Fatalf("%d ids for %d packages", len(ids), len(in))
		}
		seen := map[int64]catKey{}
		for i, p := range in {
			var want int64
			if err := tx.QueryRowContext(ctx, `SELECT id FROM software_catalogue WHERE name = $1 AND version = $2 AND source = $3 AND arch = $4 AND publisher = $5 AND location = $6`,
				p.Name, p.Version, p.Source, p.Arch, p.Publisher, p.Location).Scan(&want); err != nil {
				t.Fatalf("package %d (%s %s) has no catalogue row: %v", i, p.Name, p.Version, err)
			}
			if ids[i] != want {
				t.Errorf("package %d (%s %s): id %d, its row's is %d", i, p.Name, p.Version, ids[i], want)
			}
			if k, ok := seen[ids[i]]; ok && k != catKeyOf(&in[i]) {
				t.Errorf("id %d given to %+v and %+v", ids[i], k, catKeyOf(&in[i]))
			}
			seen[ids[i]] = catKeyOf(&in[i])
		}
		var rows int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM software_catalogue`).Scan(&rows); err != nil {
			return err
		}
		if rows != len(seen) {
			t.Errorf("%d catalogue rows for %d distinct packages", rows, len(seen))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
