package main

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// TestChurnDeltasReproduceSnapshot: a device's daily churn never gives it
// two packages that share a key (the agent's probe.Finish drops such
// repeats, and a delta cannot carry them), so each churn delta applied to
// its base gives the snapshot the device hashed. Devices made from the
// one-package Mac draw their base mix and their installs from the same
// pool, the other Mac's 384 apps: installing one the mix already gave
// was the fleet runs' resyncs ("delta result does not match its hash").
func TestChurnDeltasReproduceSnapshot(t *testing.T) {
	t.Parallel()
	files := []string{"macbookpro10-1-xml", "macbookpro11-4-text"}
	var snaps []*wire.Snapshot
	for _, f := range files {
		s, err := loadSnapshot(t.Context(), filepath.Join("..", "..", "testdata", "hosts", "darwin", f, "want.json"), nil)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	ts, err := newTemplates(files, snaps)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	installs := 0
	for i := range 500 {
		seed := uint64(1)<<20 ^ uint64(i)
		d := &fleetDevice{index: i, tmpl: ts[1], seed: seed, rng: rand.New(rand.NewPCG(seed, 0xd1ce))}
		for day := range 10 {
			before, _, err := d.snapshot(at)
			if err != nil {
				t.Fatal(err)
			}
			d.churn()
			installs += len(d.installed)
			after, h, err := d.snapshot(at.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[wire.PackageKey]bool{}
			for _, p := range after.Software.Packages {
				if seen[p.Key()] {
					t.Errorf("device %d day %d: two packages share the key %+v", i, day, p.Key())
				}
				seen[p.Key()] = true
			}
			delta, err := wire.Diff(before, after)
			if err != nil {
				t.Fatalf("device %d day %d: %v", i, day, err)
			}
			got, err := wire.Apply(before, delta)
			if err != nil {
				t.Fatalf("device %d day %d: %v", i, day, err)
			}
			if hg, _ := wire.SnapshotHash(got); hg != h {
				t.Errorf("device %d day %d: the delta applied hashes %s, want %s", i, day, hg, h)
			}
			at = at.Add(24 * time.Hour)
		}
	}
	if installs == 0 {
		t.Error("no device installed a package from its pool: the test checks nothing")
	}
}
