package registry

// The fleet evaluation's cache of decoded inputs. Re-evaluating 100,000
// devices spent about a third of its CPU decoding each device's stored
// facts (JSON) and, for every device whose results changed, its stored
// results again to list the changes. Both are the same from one
// evaluation to the next for nearly every device, so the evaluation keeps
// each device's decoded facts and results keyed by a hash of the stored
// text it decoded them from. An entry is used only when the text read now
// hashes the same, so a report that changed a device's facts or results
// through this or any other collector sharing the store (or a restored
// backup) is never answered from the cache: coherence needs no
// invalidation message, and the worst a stale entry costs is a decode.
//
// An entry is about 2 KB of heap (the 10,000-device fleet run's heap
// profile: 21 MB), so the cache is bounded: unbounded it was the largest
// holder of memory per device, 200 MB at 100,000 devices and twice that
// while an evaluation builds the next generation beside the last. Beyond
// the bound, the devices an evaluation meets first are kept; the others
// are decoded each time, as before the cache.

import (
	"hash/maphash"
	"sync"

	"github.com/rosterhq/roster/collector/compliance"
)

// defaultEvalEntries bounds the cache: ~100 MB of entries, every device
// of a 50,000-device fleet.
const defaultEvalEntries = 50000

// evalCache holds the entries of the last fleet evaluation. Only the
// fleet evaluation reads and replaces it, one at a time (the lease in
// EvaluateAll); the mutex makes a replacement visible to the next.
type evalCache struct {
	once sync.Once
	seed maphash.Seed
	// limit bounds the entries kept; 0 is defaultEvalEntries.
	limit int
	mu    sync.Mutex
	last  map[string]*evalEntry
}

// room is how many entries each of workers building the next generation
// at once may keep, so that together they stay within the bound.
func (c *evalCache) room(workers int) int {
	n := c.limit
	if n <= 0 {
		n = defaultEvalEntries
	}
	return n / max(workers, 1)
}

// evalEntry is one device's decoded inputs. The sums are maphash values
// of the stored text under the cache's random seed: a different text
// taken for an unchanged one needs a 64-bit collision no one can aim for.
type evalEntry struct {
	factsSum uint64
	facts    compliance.Facts
	// resultsSum is the sum of the results document results decodes;
	// hasResults is false when the entry knows none.
	resultsSum uint64
	hasResults bool
	results    []compliance.StoredResult
}

// begin returns the previous evaluation's entries (nil the first time)
// and the seed their sums were taken with. Entries are read-only.
func (c *evalCache) begin() (map[string]*evalEntry, maphash.Seed) {
	c.once.Do(func() { c.seed = maphash.MakeSeed() })
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.seed
}

// replace keeps the entries of the evaluation that just read the whole
// fleet, dropping devices that are gone (revoked, purged).
func (c *evalCache) replace(m map[string]*evalEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = m
}
