package registry

// The fleet evaluation's cache of decoded inputs. Re-evaluating 100,000
// devices spent most of its time reading and decoding each device's
// stored facts (JSON) and, for every device whose results changed, its
// stored results again to list the changes. Both are the same from one
// evaluation to the next for nearly every device, so the evaluation keeps
// each device's decoded facts and stored results, keyed by the device's
// device_compliance rev and evaluated_at as it read them, and reads the
// fleet without the facts and results texts: only a device whose key no
// longer matches is read again with them.
//
// The key changes with every write of the device's facts or results,
// through this or any other collector sharing the store: a report writes
// changed facts only together with its results and a rev bump
// (complianceAfterReport), a register change's re-evaluation bumps rev
// (evaluateLinked), and the fleet evaluation bumps it with the results it
// writes (EvaluateAll), under the rev it read. So an entry is used only
// for the facts and results it was made from, coherence needs no
// invalidation message, and the worst a stale entry costs is a read and
// a decode. evaluated_at in the key also tells apart a row that was
// restored from an older backup and written again up to the same rev.
// Facts backfilled from a snapshot (no rev bump) are always read again
// (readFleet), and the rest of an evaluation's inputs (last check-in,
// asset, failing times, state, exceptions, software) are read every time.
//
// An entry holds interned facts and results (compliance.Facts.Interned),
// its results shared with the devices whose results are the same
// (compliance.ResultsInterner): about 1.4 KB of heap a device
// (BenchmarkReevaluateFleet's cache-B/device; ~2 KB with results interned
// per device, 4.3 KB before interning), so the cache is bounded: beyond
// the bound, the devices an evaluation meets first are kept; the others
// are read and decoded each time. The next generation is built beside the
// last (evaluateFleet): each device handed to a worker gets a slot from a
// slab, which the worker fills, copying an unchanged device's entry (its
// facts and results shared).

import (
	"sync"

	"github.com/rosterhq/roster/collector/compliance"
)

// defaultEvalEntries bounds the cache: every device of the 100,000 the
// collector is sized for (the 100,000-device fleet run's collector peaked
// at 799 MiB of RSS with it full, docs/fleet.md).
const defaultEvalEntries = 100000

// evalCache holds the entries of the last fleet evaluation. Only the
// fleet evaluation reads and replaces it, one at a time (the lease in
// EvaluateAll); the mutex makes a replacement visible to the next.
type evalCache struct {
	// limit bounds the entries kept; 0 is defaultEvalEntries.
	limit int
	mu    sync.Mutex
	last  map[string]*evalEntry
}

// bound is how many entries the next generation may keep.
func (c *evalCache) bound() int {
	if c.limit <= 0 {
		return defaultEvalEntries
	}
	return c.limit
}

// evalEntry is one device's decoded inputs and the key they were read
// under. Entries are read-only once an evaluation published them.
type evalEntry struct {
	// stored, rev and at are device_compliance's row, rev and
	// evaluated_at; factsV is the facts' version.
	stored bool
	rev    int64
	at     string
	factsV int
	// facts are shared with the evaluations that use them: an entry
	// made again for a device whose facts did not change (its results
	// did) points to the same ones.
	facts *compliance.Facts
	// results are the stored results, decoded; the stored document is
	// their encoding (compliance.DiffStored).
	results []compliance.StoredResult
}

// matches says whether e (possibly nil) was made from the facts and
// results d's row holds now.
func (e *evalEntry) matches(d *evalDevice) bool {
	return e != nil && e.stored == d.stored && e.rev == d.rev && e.at == d.at && e.factsV == d.factsV
}

// begin returns the previous evaluation's entries (nil the first time).
func (c *evalCache) begin() map[string]*evalEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// replace keeps the entries of the evaluation that just read the whole
// fleet, dropping devices that are gone (revoked, purged).
func (c *evalCache) replace(m map[string]*evalEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = m
}

// slab allocates a fleet evaluation's values (its devices, the cache's
// next generation) chunk values at a time (at least slabMinChunk) instead
// of one each. A value is not moved once allocated: pointers to it stay
// valid (evalDevice.entry, readFleetKeys' map).
type slab[T any] struct {
	chunk int
	free  []T
}

// slabMinChunk is the least a slab allocates at once.
const slabMinChunk = 1024

func (s *slab[T]) alloc() *T {
	if len(s.free) == 0 {
		s.free = make([]T, max(s.chunk, slabMinChunk))
	}
	v := &s.free[0]
	s.free = s.free[1:]
	return v
}
