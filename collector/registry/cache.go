package registry

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rosterhq/roster/shared/wire"
)

// snapCache keeps recently applied snapshots decoded, so a stream of small
// deltas does not decode the whole stored snapshot each time. It is bounded
// by the size of their canonical JSON; eviction is random (Go's map order),
// which is cheap and good enough for agents that report at steady rates.
// Entries are keyed by hash, so a stale entry can never be used: the
// stored last_hash decides.
type snapCache struct {
	mu    sync.Mutex
	max   int
	size  int
	items map[string]cachedSnap
}

type cachedSnap struct {
	hash string
	snap *wire.Snapshot
	size int
}

// defaultCacheBytes bounds the decoded snapshots kept (as canonical JSON).
const defaultCacheBytes = 64 << 20

func newSnapCache(max int) *snapCache {
	return &snapCache{max: max, items: map[string]cachedSnap{}}
}

func (c *snapCache) get(device, hash string) *wire.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok && e.hash == hash {
		return e.snap
	}
	return nil
}

// put stores snap, which nobody may modify afterwards.
func (c *snapCache) put(device, hash string, snap *wire.Snapshot, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[device]; ok {
		c.size -= e.size
		delete(c.items, device)
	}
	if size > c.max {
		return
	}
	for k, e := range c.items {
		if c.size+size <= c.max {
			break
		}
		c.size -= e.size
		delete(c.items, k)
	}
	c.items[device] = cachedSnap{hash: hash, snap: snap, size: size}
	c.size += size
}

// storedSnapshot returns the device's latest snapshot, from the cache when
// it holds the one with hash, else decoded from the stored JSON.
func (r *Registry) storedSnapshot(device, hash string, stored sql.NullString) (*wire.Snapshot, error) {
	if !stored.Valid {
		return nil, nil
	}
	if s := r.snaps.get(device, hash); s != nil {
		return s, nil
	}
	s := new(wire.Snapshot)
	if err := json.Unmarshal([]byte(stored.String), s); err != nil {
		return nil, fmt.Errorf("decode stored snapshot: %w", err)
	}
	return s, nil
}
