package winreg

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// LoadExports loads every *.reg file under dir (recursively, in path
// order) into one in-memory registry. Later files add to and override
// earlier ones, and [-key] sections delete, as regedit's import would.
func LoadExports(fsys fs.FS, dir string) (Registry, error) {
	var files []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(path.Ext(p), ".reg") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list registry exports: %w", err)
	}
	sort.Strings(files)
	t := NewTree()
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read registry export: %w", err)
		}
		rf, err := ParseRegFile(b)
		if err != nil {
			return nil, fmt.Errorf("parse registry export %s: %w", f, err)
		}
		t.Apply(rf)
	}
	return t, nil
}

// Tree is an in-memory registry built from exports. Key and value names
// are case-insensitive, as in Windows; the case first seen is kept.
type Tree struct {
	root *node
}

type node struct {
	name     string
	children map[string]*node // by lower-case name
	values   map[string]namedValue
}

type namedValue struct {
	name  string
	value Value
}

func newNode(name string) *node {
	return &node{name: name, children: map[string]*node{}, values: map[string]namedValue{}}
}

// NewTree returns an empty registry.
func NewTree() *Tree { return &Tree{root: newNode("")} }

// Apply merges one parsed export into the tree.
func (t *Tree) Apply(rf *RegFile) {
	for _, sec := range rf.Sections {
		parts, ok := splitKey(sec.Key)
		if !ok {
			continue
		}
		if sec.Delete {
			parent := t.find(parts[:len(parts)-1])
			if parent != nil {
				delete(parent.children, strings.ToLower(parts[len(parts)-1]))
			}
			continue
		}
		n := t.root
		for _, p := range parts {
			c, ok := n.children[strings.ToLower(p)]
			if !ok {
				c = newNode(p)
				n.children[strings.ToLower(p)] = c
			}
			n = c
		}
		for _, e := range sec.Entries {
			k := strings.ToLower(e.Name)
			if e.Delete {
				delete(n.values, k)
				continue
			}
			name := e.Name
			if old, ok := n.values[k]; ok {
				name = old.name
			}
			n.values[k] = namedValue{name: name, value: e.Value}
		}
	}
}

func (t *Tree) find(parts []string) *node {
	n := t.root
	for _, p := range parts {
		c, ok := n.children[strings.ToLower(p)]
		if !ok {
			return nil
		}
		n = c
	}
	return n
}

func (t *Tree) lookup(key string) (*node, error) {
	parts, ok := splitKey(key)
	if !ok {
		return nil, fmt.Errorf("registry key %s: unknown root", key)
	}
	n := t.find(parts)
	if n == nil {
		return nil, fmt.Errorf("registry key %s: %w", key, fs.ErrNotExist)
	}
	return n, nil
}

// Subkeys implements Registry.
func (t *Tree) Subkeys(ctx context.Context, key string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n, err := t.lookup(key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out, nil
}

// Values implements Registry.
func (t *Tree) Values(ctx context.Context, key string) (map[string]Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n, err := t.lookup(key)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Value, len(n.values))
	for _, v := range n.values {
		out[v.name] = v.value
	}
	return out, nil
}

// rootAliases maps every spelling of a root key to its long name.
var rootAliases = map[string]string{
	"hklm":                "HKEY_LOCAL_MACHINE",
	"hkey_local_machine":  "HKEY_LOCAL_MACHINE",
	"hku":                 "HKEY_USERS",
	"hkey_users":          "HKEY_USERS",
	"hkcu":                "HKEY_CURRENT_USER",
	"hkey_current_user":   "HKEY_CURRENT_USER",
	"hkcr":                "HKEY_CLASSES_ROOT",
	"hkey_classes_root":   "HKEY_CLASSES_ROOT",
	"hkcc":                "HKEY_CURRENT_CONFIG",
	"hkey_current_config": "HKEY_CURRENT_CONFIG",
}

// SplitKey splits a key path into its long root name and subkey path
// (`HKLM\SOFTWARE\X` -> "HKEY_LOCAL_MACHINE", `SOFTWARE\X`). ok is false
// for an unknown root.
func SplitKey(key string) (root, sub string, ok bool) {
	r, s, _ := strings.Cut(strings.Trim(key, `\`), `\`)
	long, ok := rootAliases[strings.ToLower(r)]
	if !ok {
		return "", "", false
	}
	return long, strings.Trim(s, `\`), true
}

// splitKey returns the path components with the root in long form.
func splitKey(key string) ([]string, bool) {
	root, sub, ok := SplitKey(key)
	if !ok {
		return nil, false
	}
	parts := []string{root}
	for _, p := range strings.Split(sub, `\`) {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts, true
}

// Lookup finds a value by name, ignoring case as Windows does.
func Lookup(values map[string]Value, name string) (Value, bool) {
	if v, ok := values[name]; ok {
		return v, true
	}
	for k, v := range values {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return Value{}, false
}
