package registry

import (
	"sync"
)

// snapCache keeps each device's latest snapshot decoded and canonical, so a
// stream of small deltas neither reads nor decodes the stored snapshot. It
// is bounded by the heap its entries hold (canonSnap.heapBytes); eviction
// is random (Go's map order), which is cheap and good enough for agents
// that report at steady rates. Entries carry their hash, so a stale entry
// can never be used: the stored last_hash, or the delta's base_hash
// checked against it, decides.
//
// A fleet far larger than the cache gains little from it: a device's next
// delta comes an hour later, after the rest of the fleet's deltas have
// replaced its entry, and the delta reads and decodes the stored snapshot
// (~2 KB packed). So the bound is kept small: what it buys is a device
// that reports again within minutes (a resync, spooled reports replayed,
// a small fleet).
type snapCache struct {
	// codec packs the snapshots stored in the database; it sits here
	// because the cache is the registry's one holder of snapshot state.
	codec snapCodec
	// cat keeps software catalogue rows (software.go); it sits here for
	// the same reason
	cat   *catalogueCache
	mu    sync.Mutex
	max   int
	size  int
	items map[string]cacheItem
}

// cacheItem is an entry and the heap it was counted at.
type cacheItem struct {
	snap *canonSnap
	heap int
}

// defaultCacheBytes bounds the heap of the snapshots kept: ~200 captured
// Debian hosts (773 packages, 129 KB of canonical JSON, ~2.5 times that
// decoded). It was 64 MB of canonical JSON, about 160 MB of heap, which a
// 100,000-device fleet hardly ever hits (docs/fleet.md).
const defaultCacheBytes = 64 << 20

func newSnapCache(max int) *snapCache {
	return &snapCache{max: max, items: map[string]cacheItem{}, codec: newSnapCodec(), cat: newCatalogueCache()}
}

// get returns the device's snapshot if it is the one with hash.
func (c *snapCache) get(device, hash string) *canonSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok && e.snap.hash == hash {
		return e.snap
	}
	return nil
}

// put stores s, which nobody may modify afterwards.
func (c *snapCache) put(device string, s *canonSnap) {
	heap := s.heapBytes() // outside the lock: a loop over the packages
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok {
		c.size -= e.heap
		delete(c.items, device)
	}
	if heap > c.max {
		return
	}
	for k, e := range c.items {
		if c.size+heap <= c.max {
			break
		}
		c.size -= e.heap
		delete(c.items, k)
	}
	c.items[device] = cacheItem{snap: s, heap: heap}
	c.size += heap
}
