package registry

import (
	"sync"
)

// snapCache keeps each device's latest snapshot decoded and canonical, so a
// stream of small deltas neither reads nor decodes the stored snapshot. It
// is bounded by the size of their canonical JSON; eviction is random (Go's
// map order), which is cheap and good enough for agents that report at
// steady rates. Entries carry their hash, so a stale entry can never be
// used: the stored last_hash, or the delta's base_hash checked against it,
// decides.
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
	items map[string]*canonSnap
}

// defaultCacheBytes bounds the snapshots kept (as canonical JSON; the
// decoded form with its package encodings takes about three times that).
const defaultCacheBytes = 64 << 20

func newSnapCache(max int) *snapCache {
	return &snapCache{max: max, items: map[string]*canonSnap{}, codec: newSnapCodec(), cat: newCatalogueCache()}
}

// get returns the device's snapshot if it is the one with hash.
func (c *snapCache) get(device, hash string) *canonSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok && e.hash == hash {
		return e
	}
	return nil
}

// put stores s, which nobody may modify afterwards.
func (c *snapCache) put(device string, s *canonSnap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok {
		c.size -= e.size
		delete(c.items, device)
	}
	if s.size > c.max {
		return
	}
	for k, e := range c.items {
		if c.size+s.size <= c.max {
			break
		}
		c.size -= e.size
		delete(c.items, k)
	}
	c.items[device] = s
	c.size += s.size
}
