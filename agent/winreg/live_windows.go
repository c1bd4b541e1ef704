//go:build windows

package winreg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"golang.org/x/sys/windows/registry"
)

// Live returns the running machine's registry, read-only.
func Live() Registry { return liveRegistry{} }

// liveRegistry opens every key with KEY_WOW64_64KEY so a 32-bit agent
// build sees the same (64-bit) view as a 64-bit one; the 32-bit view is
// read explicitly through its WOW6432Node path.
type liveRegistry struct{}

var liveRoots = map[string]registry.Key{
	"HKEY_LOCAL_MACHINE":  registry.LOCAL_MACHINE,
	"HKEY_USERS":          registry.USERS,
	"HKEY_CURRENT_USER":   registry.CURRENT_USER,
	"HKEY_CLASSES_ROOT":   registry.CLASSES_ROOT,
	"HKEY_CURRENT_CONFIG": registry.CURRENT_CONFIG,
}

func (liveRegistry) open(key string, access uint32) (registry.Key, error) {
	root, sub, ok := SplitKey(key)
	if !ok {
		return 0, fmt.Errorf("registry key %s: unknown root", key)
	}
	k, err := registry.OpenKey(liveRoots[root], sub, access|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return 0, fmt.Errorf("registry key %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return 0, fmt.Errorf("open registry key %q: %w", key, err)
	}
	return k, nil
}

func (l liveRegistry) Subkeys(ctx context.Context, key string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := l.open(key, registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list subkeys of %q: %w", key, err)
	}
	sort.Strings(names)
	return names, nil
}

func (l liveRegistry) Values(ctx context.Context, key string) (map[string]Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := l.open(key, registry.QUERY_VALUE)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return nil, fmt.Errorf("list values of %q: %w", key, err)
	}
	out := make(map[string]Value, len(names))
	for _, name := range names {
		v, err := readValue(k, name)
		if err != nil {
			// A value that vanished or cannot be read is left out; the
			// probe reports it as unknown when it needed it.
			continue
		}
		out[name] = v
	}
	return out, nil
}

func readValue(k registry.Key, name string) (Value, error) {
	// With no buffer GetValue reports the type and the size.
	size, typ, err := k.GetValue(name, nil)
	if err != nil {
		return Value{}, err
	}
	switch typ {
	case registry.SZ, registry.EXPAND_SZ:
		s, _, err := k.GetStringValue(name)
		if err != nil {
			return Value{}, err
		}
		t := TypeString
		if typ == registry.EXPAND_SZ {
			t = TypeExpandString
		}
		return Value{Type: t, String: s}, nil
	case registry.MULTI_SZ:
		ss, _, err := k.GetStringsValue(name)
		if err != nil {
			return Value{}, err
		}
		return Value{Type: TypeMultiString, Strings: ss}, nil
	case registry.DWORD, registry.QWORD:
		u, _, err := k.GetIntegerValue(name)
		if err != nil {
			return Value{}, err
		}
		t := TypeDWORD
		if typ == registry.QWORD {
			t = TypeQWORD
		}
		return Value{Type: t, Uint: u}, nil
	}
	buf := make([]byte, size)
	n, _, err := k.GetValue(name, buf)
	if err != nil {
		return Value{}, err
	}
	buf = buf[:n]
	switch typ {
	case registry.NONE:
		return Value{Type: TypeNone, Bytes: buf}, nil
	case registry.BINARY:
		return Value{Type: TypeBinary, Bytes: buf}, nil
	}
	return Value{Type: fmt.Sprintf("REG_TYPE_%d", typ), Bytes: buf}, nil
}
