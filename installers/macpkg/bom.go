package macpkg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// The Bom ("bill of materials") lists every path a component package
// installs, with its mode, owner, size and checksum; Installer records it
// under /var/db/receipts and pkgutil --files reads it. The format is
// Apple's BOMStore, as reverse-engineered by bomutils (hogliux/bomutils,
// src/bom.h): a 512-byte header, named variables pointing at blocks, the
// blocks, then a block table and a free list, all big-endian. bomWrite lays
// the blocks out in the order bomutils' mkbom does, so that for the same
// tree the bytes are the same (bom_test.go compares against a Bom mkbom
// wrote).

// BomFile is one path of a Bom.
type BomFile struct {
	Path     string // "." or "./a/b"
	Type     uint8  // 1 file, 2 directory, 3 symbolic link, 4 device
	Mode     uint16 // st_mode, type bits included
	UID, GID uint32
	ModTime  uint32
	Size     uint32
	Checksum uint32 // POSIX cksum CRC of the content (files only)
	LinkName string
}

const (
	bomTypeFile = 1
	bomTypeDir  = 2
	bomTypeLink = 3

	bomHeaderSize = 512
	bomLeafSize   = 256 // paths per leaf, as mkbom
)

// bomNode is a path in the tree mkbom builds: children sorted by name.
type bomNode struct {
	name     string
	file     BomFile
	children map[string]*bomNode
}

// bomStore accumulates blocks; block 0 is the null block.
type bomStore struct {
	blocks [][]byte
	vars   []bomVar
}

type bomVar struct {
	name  string
	block uint32
}

func (s *bomStore) add(b []byte) uint32 {
	if len(s.blocks) == 0 {
		s.blocks = append(s.blocks, nil)
	}
	s.blocks = append(s.blocks, b)
	return uint32(len(s.blocks) - 1)
}

func (s *bomStore) addVar(name string, b []byte) {
	s.vars = append(s.vars, bomVar{name, s.add(b)})
}

type be []byte

func (b be) u8(v uint8) be   { return append(b, v) }
func (b be) u16(v uint16) be { return binary.BigEndian.AppendUint16(b, v) }
func (b be) u32(v uint32) be { return binary.BigEndian.AppendUint32(b, v) }

func bomTree(child, blockSize, pathCount uint32) []byte {
	return be("tree").u32(1).u32(child).u32(blockSize).u32(pathCount).u8(0)
}

func bomEmptyLeaf() []byte { return be(nil).u16(1).u16(0).u32(0).u32(0) }

// bomWrite encodes files, which must include "." and every parent of
// every path, as a BOMStore.
func bomWrite(files []BomFile) ([]byte, error) {
	root := &bomNode{children: map[string]*bomNode{}}
	byPath := map[string]*bomNode{}
	sorted := append([]BomFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("bom: %s listed twice", f.Path)
		}
		n := &bomNode{name: path.Base(f.Path), file: f, children: map[string]*bomNode{}}
		parent := root
		if f.Path != "." {
			if !cleanArchivePath(f.Path) {
				return nil, fmt.Errorf("bom: %s is not a clean ./ path", f.Path)
			}
			dir := "."
			if d := path.Dir(f.Path[2:]); d != "." {
				dir = "./" + d
			}
			p, ok := byPath[dir]
			if !ok {
				return nil, fmt.Errorf("bom: parent %s of %s is not listed", dir, f.Path)
			}
			parent = p
		} else {
			n.name = "."
		}
		parent.children[n.name] = n
		byPath[f.Path] = n
	}
	if len(byPath) == 0 || byPath["."] == nil {
		return nil, errors.New("bom: no root \".\"")
	}

	// Breadth first, children in byte order, ids from 1: mkbom's order.
	type queued struct {
		id   uint32
		node *bomNode
	}
	type item struct {
		parent uint32
		node   *bomNode
	}
	var order []item
	queue := []queued{{0, root}}
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		names := make([]string, 0, len(q.node.children))
		for name := range q.node.children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := q.node.children[name]
			order = append(order, item{q.id, c})
			queue = append(queue, queued{uint32(len(order)), c})
		}
	}
	num := uint32(len(order))

	var s bomStore
	s.addVar("BomInfo", be(nil).u32(1).u32(num+1).u32(1).u32(0).u32(0).u32(0).u32(0))

	type leaf struct {
		id       uint32
		lastFile uint32
	}
	var leaves []leaf
	for start := 0; start < len(order); start += bomLeafSize {
		end := min(start+bomLeafSize, len(order))
		var backward uint32
		if len(leaves) > 0 {
			backward = leaves[len(leaves)-1].id
		}
		l := be(nil).u16(1).u16(uint16(end - start)).u32(0).u32(backward)
		var lastFile uint32
		for i := start; i < end; i++ {
			it := order[i]
			f := it.node.file
			linkLen := uint32(0)
			if f.Type == bomTypeLink {
				linkLen = uint32(len(f.LinkName) + 1)
			}
			info2 := be(nil).u8(f.Type).u8(1).u16(3).u16(f.Mode).u32(f.UID).u32(f.GID).
				u32(f.ModTime).u32(f.Size).u8(1).u32(f.Checksum).u32(linkLen)
			if linkLen > 0 {
				info2 = append(append(info2, f.LinkName...), 0)
			}
			info1 := be(nil).u32(uint32(i + 1)).u32(s.add(info2))
			index0 := s.add(info1)
			lastFile = s.add(append(be(nil).u32(it.parent), append([]byte(it.node.name), 0)...))
			l = l.u32(index0).u32(lastFile)
		}
		id := s.add(l)
		if len(leaves) > 0 {
			prev := s.blocks[leaves[len(leaves)-1].id]
			binary.BigEndian.PutUint32(prev[4:], id)
		}
		leaves = append(leaves, leaf{id, lastFile})
	}
	child := leaves[0].id
	if len(leaves) > 1 {
		branch := be(nil).u16(0).u16(uint16(len(leaves))).u32(0).u32(0)
		for _, l := range leaves {
			branch = branch.u32(l.id).u32(l.lastFile)
		}
		child = s.add(branch)
	}
	s.addVar("Paths", bomTree(child, 4096, num))
	s.addVar("HLIndex", bomTree(s.add(bomEmptyLeaf()), 4096, 0))
	vtree := s.add(bomTree(s.add(bomEmptyLeaf()), 128, 0))
	s.addVar("VIndex", be(nil).u32(1).u32(vtree).u32(0).u8(0))
	s.addVar("Size64", bomTree(s.add(bomEmptyLeaf()), 4096, 0))
	return s.encode(), nil
}

func (s *bomStore) encode() []byte {
	vars := be(nil).u32(uint32(len(s.vars)))
	for _, v := range s.vars {
		vars = append(vars.u32(v.block).u8(uint8(len(v.name))), v.name...)
	}
	dataStart := uint32(bomHeaderSize + len(vars))
	table := be(nil).u32(uint32(len(s.blocks)))
	var data []byte
	for i, b := range s.blocks {
		if i == 0 {
			table = table.u32(0).u32(0)
			continue
		}
		table = table.u32(dataStart + uint32(len(data))).u32(uint32(len(b)))
		data = append(data, b...)
	}
	freeList := be(nil).u32(0).u32(0).u32(0).u32(0).u32(0)
	header := be("BOMStore").u32(1).u32(uint32(len(s.blocks) - 1)).
		u32(dataStart + uint32(len(data))).u32(uint32(len(table) + len(freeList))).
		u32(bomHeaderSize).u32(uint32(len(vars)))
	out := make([]byte, bomHeaderSize, int(dataStart)+len(data)+len(table)+len(freeList))
	copy(out, header)
	out = append(out, vars...)
	out = append(out, data...)
	out = append(out, table...)
	return append(out, freeList...)
}

// ReadBom decodes the Paths tree of a BOMStore: every path with its
// attributes, in the order of the tree's leaves. It reads Boms written by
// Apple's tools as well as by bomWrite.
func ReadBom(b []byte) ([]BomFile, error) {
	if len(b) < 32 || string(b[:8]) != "BOMStore" {
		return nil, errors.New("bom: not a BOMStore")
	}
	u32 := func(off uint64) uint32 { return binary.BigEndian.Uint32(b[off:]) }
	if v := u32(8); v != 1 {
		return nil, fmt.Errorf("bom: version %d", v)
	}
	indexOff, varsOff, varsLen := uint64(u32(16)), uint64(u32(24)), uint64(u32(28))
	if indexOff+4 > uint64(len(b)) || varsOff+varsLen > uint64(len(b)) || varsLen < 4 {
		return nil, errors.New("bom: header points outside the file")
	}
	nblocks := uint64(u32(indexOff))
	if indexOff+4+nblocks*8 > uint64(len(b)) {
		return nil, errors.New("bom: block table outside the file")
	}
	block := func(id uint32) ([]byte, error) {
		if id == 0 || uint64(id) >= nblocks {
			return nil, fmt.Errorf("bom: block %d out of range", id)
		}
		p := indexOff + 4 + uint64(id)*8
		addr, n := uint64(u32(p)), uint64(u32(p+4))
		if addr+n > uint64(len(b)) {
			return nil, fmt.Errorf("bom: block %d outside the file", id)
		}
		return b[addr : addr+n], nil
	}
	vars := map[string]uint32{}
	nvars := u32(varsOff)
	p := varsOff + 4
	for range nvars {
		if p+5 > varsOff+varsLen {
			return nil, errors.New("bom: variables truncated")
		}
		id, n := u32(p), uint64(b[p+4])
		if p+5+n > varsOff+varsLen {
			return nil, errors.New("bom: variable name truncated")
		}
		vars[string(b[p+5:p+5+n])] = id
		p += 5 + n
	}
	pathsID, ok := vars["Paths"]
	if !ok {
		return nil, errors.New("bom: no Paths variable")
	}
	tree, err := block(pathsID)
	if err != nil {
		return nil, err
	}
	if len(tree) < 21 || string(tree[:4]) != "tree" {
		return nil, errors.New("bom: Paths is not a tree")
	}
	node := binary.BigEndian.Uint32(tree[8:])
	// Down the first index of each branch to the first leaf, then along
	// the leaves' forward links.
	seen := map[uint32]bool{}
	type raw struct {
		id, parent uint32
		name       string
		f          BomFile
	}
	var raws []raw
	for node != 0 {
		if seen[node] {
			return nil, errors.New("bom: loop in the Paths tree")
		}
		seen[node] = true
		paths, err := block(node)
		if err != nil {
			return nil, err
		}
		if len(paths) < 12 {
			return nil, errors.New("bom: short paths block")
		}
		isLeaf, count := binary.BigEndian.Uint16(paths), int(binary.BigEndian.Uint16(paths[2:]))
		if len(paths) < 12+count*8 {
			return nil, errors.New("bom: paths block shorter than its count")
		}
		if isLeaf == 0 {
			if count == 0 {
				return nil, errors.New("bom: empty branch")
			}
			node = binary.BigEndian.Uint32(paths[12:])
			continue
		}
		for i := range count {
			idx := paths[12+i*8:]
			info1, err := block(binary.BigEndian.Uint32(idx))
			if err != nil {
				return nil, err
			}
			file, err := block(binary.BigEndian.Uint32(idx[4:]))
			if err != nil {
				return nil, err
			}
			if len(info1) < 8 || len(file) < 5 {
				return nil, errors.New("bom: short path record")
			}
			info2, err := block(binary.BigEndian.Uint32(info1[4:]))
			if err != nil {
				return nil, err
			}
			if len(info2) < 31 {
				return nil, errors.New("bom: short path attributes")
			}
			name, _, _ := strings.Cut(string(file[4:]), "\x00")
			f := BomFile{
				Type:     info2[0],
				Mode:     binary.BigEndian.Uint16(info2[4:]),
				UID:      binary.BigEndian.Uint32(info2[6:]),
				GID:      binary.BigEndian.Uint32(info2[10:]),
				ModTime:  binary.BigEndian.Uint32(info2[14:]),
				Size:     binary.BigEndian.Uint32(info2[18:]),
				Checksum: binary.BigEndian.Uint32(info2[23:]),
			}
			// Apple sets a link name length on some records that are not
			// links; only links have the name.
			if n := binary.BigEndian.Uint32(info2[27:]); n > 0 && f.Type == bomTypeLink {
				if uint64(n) > uint64(len(info2)-31) {
					return nil, errors.New("bom: link name truncated")
				}
				f.LinkName, _, _ = strings.Cut(string(info2[31:31+n]), "\x00")
			}
			// Every path has blocks of its own: more paths than blocks is
			// a corrupt tree visiting records again.
			if uint64(len(raws)) >= nblocks {
				return nil, errors.New("bom: more paths than blocks")
			}
			raws = append(raws, raw{binary.BigEndian.Uint32(info1), binary.BigEndian.Uint32(file), name, f})
		}
		node = binary.BigEndian.Uint32(paths[4:])
	}
	names := map[uint32]raw{}
	for _, r := range raws {
		names[r.id] = r
	}
	// Full paths, each id resolved once; a loop in the parents is an
	// error rather than endless.
	paths := map[uint32]string{}
	resolving := map[uint32]bool{}
	var full func(id uint32) (string, error)
	full = func(id uint32) (string, error) {
		if p, ok := paths[id]; ok {
			return p, nil
		}
		if resolving[id] {
			return "", fmt.Errorf("bom: path id %d is its own ancestor", id)
		}
		r, ok := names[id]
		if !ok {
			return "", fmt.Errorf("bom: path id %d unknown", id)
		}
		p := r.name
		if r.parent != 0 {
			resolving[id] = true
			dir, err := full(r.parent)
			if err != nil {
				return "", err
			}
			p = dir + "/" + r.name
		}
		paths[id] = p
		return p, nil
	}
	out := make([]BomFile, 0, len(raws))
	for _, r := range raws {
		p, err := full(r.id)
		if err != nil {
			return nil, err
		}
		r.f.Path = p
		out = append(out, r.f)
	}
	return out, nil
}

// cksumTable is the CRC-32 table of POSIX cksum (polynomial 0x04C11DB7,
// most significant bit first), which bomutils uses for Bom checksums.
var cksumTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// cksum is the POSIX cksum CRC of b: the bytes, then the length in as
// few bytes as it takes, least significant first, then inverted.
func cksum(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = cksumTable[byte(c>>24)^x] ^ c<<8
	}
	for n := uint64(len(b)); n > 0; n >>= 8 {
		c = cksumTable[byte(c>>24)^byte(n)] ^ c<<8
	}
	return ^c
}

// cleanArchivePath says whether p is "./" followed by a clean relative
// path that stays below the root.
func cleanArchivePath(p string) bool {
	rest, ok := strings.CutPrefix(p, "./")
	return ok && rest != "" && path.Clean(rest) == rest && !path.IsAbs(rest) &&
		rest != "." && rest != ".." && !strings.HasPrefix(rest, "../")
}
