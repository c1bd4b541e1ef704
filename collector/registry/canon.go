package registry

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"unsafe"

	"github.com/rosterhq/roster/shared/wire"
)

// canonSnap is a snapshot in canonical form (packages sorted) together with
// each package's JSON encoding, so that the snapshot after a small delta is
// derived, encoded and hashed touching only the packages that changed: a
// delta naming one package costs one package's encoding, not the whole
// snapshot's, and no sort. Every value is immutable once built; the cache
// hands the same canonSnap to concurrent readers.
type canonSnap struct {
	hash string
	snap *wire.Snapshot
	// pkgJSON[i] is the encoding of snap.Software.Packages[i]. It is nil
	// when two packages share a key, which the fast path cannot keep apart
	// the way wire.Apply does; such snapshots take the general path.
	pkgJSON [][]byte
	// pkgSum holds the SHA-256 of each of pkgJSON, 32 bytes each in the
	// same order, when hash is of protocol version 2
	// (wire.PackageDigestHash): what a delta's hash reuses for the
	// packages it leaves alone. nil otherwise.
	pkgSum []byte
	// size is the canonical JSON's length.
	size int
	// pkgHeap is what the packages hold besides size (pkgHeapOf each),
	// kept up to date by apply rather than summed again for the cache.
	pkgHeap int
	// sec holds the encodings of the hardware, encryption and OS
	// sections when pkgJSON does (the spliced encoding's parts).
	sec sections
}

// sections are the encodings of a snapshot's three largest sections
// besides software (nil for a section the snapshot lacks). Most deltas
// carry none of them (wire.Delta.Set), so the snapshot after one keeps
// its base's section values and, here, their encodings: the OS section
// alone, with its list of pending updates, is most of the ~16 KB of JSON
// outside the packages that every delta's hash would otherwise encode
// again.
type sections struct{ hardware, encryption, os []byte }

// sectionsOf encodes s's sections, reusing base's encoding of each
// section s shares with it (the same pointer: snapshot values are never
// modified once built). base may be nil.
func sectionsOf(s *wire.Snapshot, base *canonSnap) (sections, error) {
	var b *wire.Snapshot
	var bs sections
	if base != nil && base.pkgJSON != nil {
		b, bs = base.snap, base.sec
	}
	var out sections
	var err error
	enc := func(v any, isNil, same bool, reuse []byte) []byte {
		switch {
		case err != nil || isNil:
			return nil
		case same:
			return reuse
		}
		var j []byte
		if j, err = json.Marshal(v); err != nil {
			err = fmt.Errorf("encode snapshot: %w", err)
		}
		return j
	}
	out.hardware = enc(s.Hardware, s.Hardware == nil, b != nil && b.Hardware == s.Hardware, bs.hardware)
	out.encryption = enc(s.Encryption, s.Encryption == nil, b != nil && b.Encryption == s.Encryption, bs.encryption)
	out.os = enc(s.OS, s.OS == nil, b != nil && b.OS == s.OS, bs.os)
	return out, err
}

// heapBytes estimates the heap s holds, for the cache's bound: the
// package encodings, the decoded packages with their strings, and the
// rest of the snapshot at about its encoding's size. It is within ~10 % of
// what the Go heap measures for a captured host (TestCanonSnapHeapBytes);
// the decoded form is about 2.5 times the canonical JSON's size.
func (b *canonSnap) heapBytes() int {
	// The sections' encodings are kept besides (and may be shared with
	// the snapshot this one was derived from; counted for each).
	return b.size + b.pkgHeap + cap(b.sec.hardware) + cap(b.sec.encryption) + cap(b.sec.os) + cap(b.pkgSum)
}

// pkgHeapOf is the heap a decoded package holds, with its strings and
// date, and its encoding's slice beyond the bytes size counts (js may be
// nil).
func pkgHeapOf(p *wire.Package, js []byte) int {
	const sliceHeader, timeSize = 24, 24
	n := int(unsafe.Sizeof(*p)) + len(p.Name) + len(p.Version) + len(p.Arch) + len(p.Source) + len(p.Publisher) + len(p.Location)
	if p.InstallDate != nil {
		n += timeSize
	}
	if js != nil {
		n += sliceHeader + cap(js) - len(js)
	}
	return n
}

// packagesHeap is pkgHeapOf summed over s's packages.
func packagesHeap(s *wire.Snapshot, pkgJSON [][]byte) int {
	if s.Software == nil {
		return 0
	}
	n := 0
	for i := range s.Software.Packages {
		var js []byte
		if pkgJSON != nil {
			js = pkgJSON[i]
		}
		n += pkgHeapOf(&s.Software.Packages[i], js)
	}
	return n
}

// newCanonSnap canonicalises s (which it does not modify) and hashes it
// in the form of protocol version v (wire.SnapshotHashAt).
func newCanonSnap(s *wire.Snapshot, v int) (*canonSnap, error) {
	c := *s
	wire.Canonicalise(&c)
	var pkgJSON [][]byte
	if c.Software != nil && uniqueKeys(c.Software.Packages) {
		pkgJSON = make([][]byte, len(c.Software.Packages))
		// The encodings share chunks of at most pkgChunk bytes instead
		// of taking one allocation each; each is cut to its own length,
		// so nothing appended to one reaches the next. A chunk is sized
		// for the packages left at pkgGuess bytes each, so the last one
		// is not mostly empty.
		var chunk []byte
		for i := range c.Software.Packages {
			if cap(chunk)-len(chunk) < 2*pkgGuess {
				chunk = make([]byte, 0, min(pkgChunk, (len(c.Software.Packages)-i)*pkgGuess))
			}
			start := len(chunk)
			var err error
			if chunk, err = wire.AppendPackageJSON(chunk, &c.Software.Packages[i]); err != nil {
				return nil, fmt.Errorf("encode package: %w", err)
			}
			pkgJSON[i] = chunk[start:len(chunk):len(chunk)]
		}
	}
	return hashed(&c, pkgJSON, nil, nil, v)
}

// pkgChunk is the largest chunk newCanonSnap writes packages' encodings
// into, and pkgGuess the size it expects of one (the captured hosts'
// average is ~150 bytes).
const (
	pkgChunk = 16 << 10
	pkgGuess = 160
)

// hashed builds the canonSnap of a canonical snapshot, streaming its
// encoding into the hash: the bytes are only put together when stored.
// base, when not nil, is the snapshot s was derived from, whose sections'
// encodings s reuses where it shares them. v is the protocol version whose
// hash is wanted; pkgSum, for version 2, holds the packages' digests
// already worked out (nil: all are worked out here).
func hashed(s *wire.Snapshot, pkgJSON [][]byte, pkgSum []byte, base *canonSnap, v int) (*canonSnap, error) {
	var sec sections
	if pkgJSON != nil {
		var err error
		if sec, err = sectionsOf(s, base); err != nil {
			return nil, err
		}
	}
	if v < 2 {
		h := sha256.New()
		n, err := encodeCanonical(h, s, pkgJSON, sec, false)
		if err != nil {
			return nil, err
		}
		return withHeap(&canonSnap{hash: wire.HashPrefixV1 + hex.EncodeToString(h.Sum(nil)), snap: s, pkgJSON: pkgJSON, size: n, sec: sec}, base), nil
	}
	if s.Software == nil || pkgJSON == nil {
		// The general path: wire's own definition, and the length of
		// the whole encoding.
		hash, err := wire.PackageDigestHash(s)
		if err != nil {
			return nil, err
		}
		n, err := encodeCanonical(io.Discard, s, nil, sec, false)
		if err != nil {
			return nil, err
		}
		return withHeap(&canonSnap{hash: hash, snap: s, pkgJSON: pkgJSON, size: n, sec: sec}, base), nil
	}
	if pkgSum == nil {
		pkgSum = make([]byte, 0, len(pkgJSON)*sha256.Size)
		for _, b := range pkgJSON {
			pkgSum = appendDigest(pkgSum, b)
		}
	}
	h := sha256.New()
	n, err := encodeCanonical(h, s, pkgJSON, sec, true)
	if err != nil {
		return nil, err
	}
	h.Write(pkgSum)
	if len(pkgJSON) > 0 {
		// The whole encoding has the list where the head has null.
		n += len("[]") + len(pkgJSON) - 1 - len("null")
		for _, b := range pkgJSON {
			n += len(b)
		}
	}
	return withHeap(&canonSnap{hash: wire.HashPrefixV2 + hex.EncodeToString(h.Sum(nil)), snap: s, pkgJSON: pkgJSON, pkgSum: pkgSum, size: n, sec: sec}, base), nil
}

// withHeap sums c's pkgHeap when c was not derived from a base; a
// derived one gets it from apply, which knows what changed.
func withHeap(c *canonSnap, base *canonSnap) *canonSnap {
	if base == nil {
		c.pkgHeap = packagesHeap(c.snap, c.pkgJSON)
	}
	return c
}

// appendDigest appends SHA-256 of b to dst.
func appendDigest(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(dst, sum[:]...)
}

// appendPkgDigests appends the digests of packages from to to (not
// included): b.pkgSum's, or worked out from their encodings when b was
// hashed in the first form.
func (b *canonSnap) appendPkgDigests(dst []byte, from, to int) []byte {
	if b.pkgSum != nil {
		return append(dst, b.pkgSum[from*sha256.Size:to*sha256.Size]...)
	}
	for i := from; i < to; i++ {
		dst = appendDigest(dst, b.pkgJSON[i])
	}
	return dst
}

// canonical is the snapshot's canonical JSON.
func (b *canonSnap) canonical() ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, b.size))
	if _, err := encodeCanonical(buf, b.snap, b.pkgJSON, b.sec, false); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func uniqueKeys(p []wire.Package) bool {
	for i := 1; i < len(p); i++ {
		if cmpKey(p[i-1].Key(), p[i].Key()) == 0 {
			return false
		}
	}
	return true
}

// cmpKey is the canonical package order (wire.SortPackages): source, name,
// arch, version, location.
func cmpKey(a, b wire.PackageKey) int {
	return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.Version, b.Version), cmp.Compare(a.Location, b.Location))
}

// encodeCanonical writes wire.CanonicalJSON of a snapshot whose packages
// are already sorted to w, reusing pkgJSON and the sections' encodings
// (sectionsOf) when given, and returns the length. The encoding of a
// struct is its fields in order, omitting nil pointers, and hardware,
// encryption, OS and software are the fields just before probes (the last
// one, never omitted; TestCanonicalLayout guards all of it), so those
// sections go in before ',"probes":'. Should the layout not be what is
// expected, it encodes the whole snapshot instead, which is slower but
// never wrong. bare leaves the package list out ("packages":null), as
// wire.PackageDigestHash's first part does.
func encodeCanonical(w io.Writer, s *wire.Snapshot, pkgJSON [][]byte, sec sections, bare bool) (int, error) {
	if bare && s.Software != nil {
		// What the fallbacks below encode: the snapshot without its list.
		c := *s
		c.Software = &wire.Software{}
		s = &c
	}
	if s.Software == nil || pkgJSON == nil {
		return writeWhole(w, s)
	}
	c := *s
	c.Hardware, c.Encryption, c.OS, c.Software = nil, nil, nil, nil
	head, err := json.Marshal(&c)
	if err != nil {
		return 0, fmt.Errorf("encode snapshot: %w", err)
	}
	probes, err := json.Marshal(c.Probes)
	if err != nil {
		return 0, fmt.Errorf("encode snapshot: %w", err)
	}
	tail := len(`,"probes":`) + len(probes) + 1
	if len(head) < tail || !bytes.HasPrefix(head[len(head)-tail:], []byte(`,"probes":`)) {
		return writeWhole(w, s)
	}
	// Writes to a hash or a buffer do not fail; the count is all that
	// matters.
	n := 0
	put := func(b []byte) {
		m, _ := w.Write(b)
		n += m
	}
	// One buffer for the punctuation, so the loop allocates nothing.
	punct := []byte(`,"software":{"packages":null[]}`)
	comma, null, open, closeArr, closeObj := punct[0:1], punct[24:28], punct[28:29], punct[29:30], punct[30:31]
	put(head[:len(head)-tail])
	for _, f := range [...]struct {
		name string
		enc  []byte
	}{{`,"hardware":`, sec.hardware}, {`,"encryption":`, sec.encryption}, {`,"os":`, sec.os}} {
		if f.enc != nil {
			n += writeString(w, f.name)
			put(f.enc)
		}
	}
	put(punct[:24])
	if len(s.Software.Packages) == 0 {
		// wire.Canonicalise turns an empty list into nil: null.
		put(null)
	} else {
		put(open)
		for i, b := range pkgJSON {
			if i > 0 {
				put(comma)
			}
			put(b)
		}
		put(closeArr)
	}
	put(closeObj)
	put(head[len(head)-tail:])
	return n, nil
}

// writeString writes s to w (a hash or a buffer, which do not fail) and
// returns its length.
func writeString(w io.Writer, s string) int {
	m, _ := io.WriteString(w, s)
	return m
}

func writeWhole(w io.Writer, s *wire.Snapshot) (int, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("encode snapshot: %w", err)
	}
	return w.Write(b)
}

// pkgChange is how a report changed the package set: the packages whose
// key left or changed (old) and those that arrived or changed (new), keyed
// as packagesByKey does. Unchanged packages are in neither, so writing the
// software rows and the history costs what changed, not the inventory.
type pkgChange struct {
	old, new map[wire.PackageKey][]wire.Package
}

// apply derives the snapshot after d. It returns an error when d does not
// apply to this base (the caller answers resync). Deltas the fast path does
// not cover (a software section appearing or vanishing, packages sharing a
// key) go through wire.Apply, so both paths agree by construction. The
// result is hashed in the form of protocol version v.
func (b *canonSnap) apply(d *wire.Delta, v int) (*canonSnap, pkgChange, error) {
	base := b.snap
	if b.pkgJSON == nil || d.SoftwareSection != "" || base.Software == nil {
		return b.applySlow(d, v)
	}
	// The sections other than software, exactly as wire.Apply does them.
	rest := *d
	rest.SoftwareAdded, rest.SoftwareRemoved = nil, nil
	out, err := wire.Apply(base, &rest)
	if err != nil {
		return nil, pkgChange{}, err
	}
	if len(d.SoftwareAdded) == 0 && len(d.SoftwareRemoved) == 0 {
		next, err := hashed(out, b.pkgJSON, b.pkgSum, b, v)
		if err != nil {
			return nil, pkgChange{}, err
		}
		next.pkgHeap = b.pkgHeap
		return next, pkgChange{}, nil
	}
	pkgs := base.Software.Packages
	find := func(k wire.PackageKey) (int, bool) {
		return slices.BinarySearchFunc(pkgs, k, func(p wire.Package, k wire.PackageKey) int { return cmpKey(p.Key(), k) })
	}
	ch := pkgChange{old: map[wire.PackageKey][]wire.Package{}, new: map[wire.PackageKey][]wire.Package{}}
	drop := map[int]bool{}
	for _, k := range d.SoftwareRemoved {
		i, ok := find(k)
		if !ok || drop[i] {
			// wire.Apply's error, for the same case: the key is not in
			// the base (or was removed twice).
			return nil, pkgChange{}, fmt.Errorf("apply delta: removed package %s %s %s not in base", k.Source, k.Name, k.Version)
		}
		drop[i] = true
		ch.old[k] = []wire.Package{pkgs[i]}
	}
	added := slices.Clone(d.SoftwareAdded)
	slices.SortFunc(added, func(x, y wire.Package) int { return cmpKey(x.Key(), y.Key()) })
	if !uniqueKeys(added) {
		return b.applySlow(d, v)
	}
	addJSON := make([][]byte, len(added))
	// at[j] is where added[j] goes among the base's packages: before
	// pkgs[at[j]], which it replaces when the keys are the same.
	at := make([]int, len(added))
	for j := range added {
		k := added[j].Key()
		i, ok := find(k)
		at[j] = i
		if ok && !drop[i] {
			drop[i] = true
			ch.old[k] = []wire.Package{pkgs[i]}
		}
		ch.new[k] = []wire.Package{added[j]}
		if addJSON[j], err = wire.AppendPackageJSON(nil, &added[j]); err != nil {
			return nil, pkgChange{}, fmt.Errorf("encode package: %w", err)
		}
	}
	// Merge the kept base packages with the added ones; both are sorted
	// and no key is in both, so the result is sorted and unique. The
	// base's packages between two changes are copied as one run.
	n := len(pkgs) - len(drop) + len(added)
	merged := make([]wire.Package, 0, n)
	mergedJSON := make([][]byte, 0, n)
	// The packages' digests for the second form, in the same order.
	var mergedSum []byte
	if v >= 2 {
		mergedSum = make([]byte, 0, n*sha256.Size)
	}
	dropped := slices.Sorted(maps.Keys(drop))
	i := 0 // the next base package
	keep := func(upto int) {
		for i < upto {
			end := upto
			if len(dropped) > 0 && dropped[0] < end {
				end = dropped[0]
			}
			merged, mergedJSON = append(merged, pkgs[i:end]...), append(mergedJSON, b.pkgJSON[i:end]...)
			if v >= 2 {
				mergedSum = b.appendPkgDigests(mergedSum, i, end)
			}
			i = end
			if len(dropped) > 0 && dropped[0] == i && i < upto {
				i++
				dropped = dropped[1:]
			}
		}
	}
	for j := range added {
		keep(at[j])
		merged, mergedJSON = append(merged, added[j]), append(mergedJSON, addJSON[j])
		if v >= 2 {
			mergedSum = appendDigest(mergedSum, addJSON[j])
		}
	}
	keep(len(pkgs))
	out.Software = &wire.Software{Packages: merged}
	next, err := hashed(out, mergedJSON, mergedSum, b, v)
	if err != nil {
		return nil, pkgChange{}, err
	}
	next.pkgHeap = b.pkgHeap
	for i := range drop {
		next.pkgHeap -= pkgHeapOf(&pkgs[i], b.pkgJSON[i])
	}
	for j := range added {
		next.pkgHeap += pkgHeapOf(&added[j], addJSON[j])
	}
	return next, ch, nil
}

func (b *canonSnap) applySlow(d *wire.Delta, v int) (*canonSnap, pkgChange, error) {
	s, err := wire.Apply(b.snap, d)
	if err != nil {
		return nil, pkgChange{}, err
	}
	next, err := newCanonSnap(s, v)
	if err != nil {
		return nil, pkgChange{}, err
	}
	return next, pkgChange{old: packagesByKey(b.snap), new: packagesByKey(next.snap)}, nil
}

// diffPackages is the package change from old to cur, two snapshots with
// sorted packages: a merge walk that compares encodings, with no maps of
// the whole inventory.
func diffPackages(old, cur *canonSnap) pkgChange {
	if old == nil || old.snap.Software == nil || cur.snap.Software == nil || old.pkgJSON == nil || cur.pkgJSON == nil {
		var o *wire.Snapshot
		if old != nil {
			o = old.snap
		}
		return pkgChange{old: packagesByKey(o), new: packagesByKey(cur.snap)}
	}
	ch := pkgChange{old: map[wire.PackageKey][]wire.Package{}, new: map[wire.PackageKey][]wire.Package{}}
	op, np := old.snap.Software.Packages, cur.snap.Software.Packages
	i, j := 0, 0
	for i < len(op) || j < len(np) {
		c := 0
		switch {
		case i == len(op):
			c = 1
		case j == len(np):
			c = -1
		default:
			c = cmpKey(op[i].Key(), np[j].Key())
		}
		switch {
		case c < 0:
			ch.old[op[i].Key()] = []wire.Package{op[i]}
			i++
		case c > 0:
			ch.new[np[j].Key()] = []wire.Package{np[j]}
			j++
		default:
			if !bytes.Equal(old.pkgJSON[i], cur.pkgJSON[j]) {
				ch.old[op[i].Key()] = []wire.Package{op[i]}
				ch.new[np[j].Key()] = []wire.Package{np[j]}
			}
			i, j = i+1, j+1
		}
	}
	return ch
}
