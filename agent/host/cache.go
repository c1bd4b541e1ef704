package host

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// OutputCache remembers the output of expensive commands whose answer only
// depends on files the caller names (apt's upgrade simulation depends on
// the dpkg database, the package lists and apt's configuration). The
// service loop keeps one for its lifetime, so an hourly inventory on an
// unchanged machine does not re-run apt's resolver; one-shot commands
// (inventory, captured hosts) have none and always run.
type OutputCache struct {
	mu sync.Mutex
	m  map[string]cachedOutput // by command line
}

type cachedOutput struct {
	fingerprint string
	out         []byte
}

// NewOutputCache returns an empty cache.
func NewOutputCache() *OutputCache {
	return &OutputCache{m: map[string]cachedOutput{}}
}

// RunCached runs a command like Run, except that with an OutputCache on the
// host a successful output is reused while none of inputs (files or
// directories, absolute host paths) changed size, modification time or,
// for a directory, its entries. Failures are never cached.
func (h *Host) RunCached(ctx context.Context, inputs []string, name string, args ...string) ([]byte, error) {
	if h.Cache == nil {
		return h.Run(ctx, name, args...)
	}
	fp, err := h.fingerprint(inputs)
	if err != nil {
		return h.Run(ctx, name, args...)
	}
	line := CommandLine(name, args...)
	h.Cache.mu.Lock()
	c, ok := h.Cache.m[line]
	h.Cache.mu.Unlock()
	if ok && c.fingerprint == fp {
		return c.out, nil
	}
	out, err := h.Run(ctx, name, args...)
	if err != nil {
		return out, err
	}
	h.Cache.mu.Lock()
	h.Cache.m[line] = cachedOutput{fingerprint: fp, out: out}
	h.Cache.mu.Unlock()
	return out, nil
}

// fingerprint describes the inputs' sizes and modification times; a
// directory contributes each entry's.
func (h *Host) fingerprint(inputs []string) (string, error) {
	var b strings.Builder
	for _, p := range inputs {
		st, err := fs.Stat(h.FS, Path(p))
		if err != nil {
			fmt.Fprintf(&b, "%s absent\n", p)
			continue
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
		if !st.IsDir() {
			continue
		}
		ents, err := fs.ReadDir(h.FS, Path(p))
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, " %s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
		}
	}
	return b.String(), nil
}
