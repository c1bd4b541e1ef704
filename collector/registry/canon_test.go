package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/collector/pki"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestCanonicalLayout guards what encodeCanonical relies on: software is
// the field just before probes, probes is the last field and never
// omitted, and software holds only its packages. When wire changes this,
// the fallback keeps hashes right but slow: update encodeCanonical.
func TestCanonicalLayout(t *testing.T) {
	st := reflect.TypeFor[wire.Snapshot]()
	n := st.NumField()
	if got := st.Field(n - 1); got.Name != "Probes" || got.Tag.Get("json") != "probes" {
		t.Errorf("last Snapshot field: got %s %q, want Probes \"probes\"", got.Name, got.Tag.Get("json"))
	}
	// encodeCanonical splices these sections in, in this order, before
	// probes; each is a pointer omitted when nil.
	for i, want := range []string{"Software", "OS", "Encryption", "Hardware"} {
		f := st.Field(n - 2 - i)
		if f.Name != want || f.Type.Kind() != reflect.Pointer || !strings.HasSuffix(f.Tag.Get("json"), ",omitempty") {
			t.Errorf("field %d before probes: got %s %s %q, want %s, a pointer, omitempty", i+1, f.Name, f.Type, f.Tag.Get("json"), want)
		}
	}
	if got := reflect.TypeFor[wire.Software]().NumField(); got != 1 {
		t.Errorf("wire.Software has %d fields, want 1 (packages)", got)
	}
}

// variants derives real-looking variations of each captured snapshot.
func variants(t *testing.T) map[string]*wire.Snapshot {
	out := map[string]*wire.Snapshot{}
	for name, s := range registrytest.Snapshots(t) {
		out[name] = s
		if s.Software != nil {
			c := registrytest.Clone(t, s)
			c.Software.Packages = nil
			out[name+"/nil-packages"] = c
			c = registrytest.Clone(t, s)
			c.Software.Packages = []wire.Package{}
			out[name+"/no-packages"] = c
		}
		c := registrytest.Clone(t, s)
		c.Probes = nil
		out[name+"/nil-probes"] = c
		c = registrytest.Clone(t, s)
		c.Software = nil
		out[name+"/no-software"] = c
		c = registrytest.Clone(t, s)
		c.Hardware, c.OS = nil, nil
		out[name+"/no-hardware-no-os"] = c
		c = registrytest.Clone(t, s)
		c.Encryption = nil
		out[name+"/no-encryption"] = c
	}
	return out
}

func TestEncodeCanonicalMatchesWire(t *testing.T) {
	t.Parallel()
	for name, s := range variants(t) {
		for v := 1; v <= wire.ProtocolVersion; v++ {
			t.Run(fmt.Sprintf("%s/v%d", name, v), func(t *testing.T) {
				want, err := wire.CanonicalJSON(s)
				if err != nil {
					t.Fatal(err)
				}
				cs, err := newCanonSnap(s, v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := cs.canonical()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("canonical JSON differs from wire.CanonicalJSON:\n%s", cmp.Diff(string(want), string(got)))
				}
				if h := registrytest.HashAt(t, s, v); cs.hash != h || cs.size != len(want) {
					t.Errorf("got hash %s size %d, want %s %d", cs.hash, cs.size, h, len(want))
				}
			})
		}
	}
}

// TestApplyMatchesWire checks the fast delta path against wire.Apply on
// deltas made by wire.Diff between real snapshots and their variations.
func TestApplyMatchesWire(t *testing.T) {
	t.Parallel()
	rich := registrytest.Rich(t)
	pk := rich.Software.Packages
	change := func(f func(s *wire.Snapshot)) *wire.Snapshot {
		c := registrytest.Clone(t, rich)
		c.CollectedAt = c.CollectedAt.Add(time.Hour)
		f(c)
		return c
	}
	cases := map[string]*wire.Snapshot{
		"nothing but time": change(func(s *wire.Snapshot) {}),
		"one upgraded":     change(func(s *wire.Snapshot) { s.Software.Packages[3].Version += ".1" }),
		"one removed": change(func(s *wire.Snapshot) {
			s.Software.Packages = append(s.Software.Packages[:2], s.Software.Packages[3:]...)
		}),
		"one added first": change(func(s *wire.Snapshot) {
			p := pk[0]
			p.Name = "0" + p.Name
			s.Software.Packages = append(s.Software.Packages, p)
		}),
		"one added last": change(func(s *wire.Snapshot) {
			p := pk[len(pk)-1]
			p.Source = "~" + p.Source
			s.Software.Packages = append(s.Software.Packages, p)
		}),
		"publisher changed, same key": change(func(s *wire.Snapshot) { s.Software.Packages[1].Publisher += " Inc." }),
		"all removed":                 change(func(s *wire.Snapshot) { s.Software.Packages = []wire.Package{} }),
		"section gone":                change(func(s *wire.Snapshot) { s.Software = nil }),
		"hardware and os":             change(func(s *wire.Snapshot) { s.Hardware.Hostname += "-2"; s.OS = nil }),
		"os only":                     change(func(s *wire.Snapshot) { s.OS.Kernel += "-1" }),
		"many, next to each other": change(func(s *wire.Snapshot) {
			p := s.Software.Packages
			p[7].Version += ".1"
			p[9].Version += ".1"
			a, c := p[5], p[5]
			a.Name += "-a"
			c.Name += "-b"
			last := p[len(p)-1]
			last.Name += "-z"
			kept := append(append([]wire.Package{}, p[1:5]...), p[7:]...) // 0, 5 and 6 removed
			s.Software.Packages = append(kept, a, c, last)
		}),
		"encryption gone, one added": change(func(s *wire.Snapshot) {
			s.Encryption = nil
			p := pk[0]
			p.Name = "0" + p.Name
			s.Software.Packages = append(s.Software.Packages, p)
		}),
	}
	// Bases hashed in either form, deltas hashed in either: an agent
	// moves from the first to the second between two deltas.
	bases := map[int]*canonSnap{}
	for v := 1; v <= wire.ProtocolVersion; v++ {
		b, err := newCanonSnap(rich, v)
		if err != nil {
			t.Fatal(err)
		}
		bases[v] = b
	}
	base := bases[1]
	for name, cur := range cases {
		for bv, b := range bases {
			for v := 1; v <= wire.ProtocolVersion; v++ {
				t.Run(fmt.Sprintf("%s/base v%d/v%d", name, bv, v), func(t *testing.T) {
					d := registrytest.Diff(t, rich, cur)
					want, err := wire.Apply(rich, d)
					if err != nil {
						t.Fatal(err)
					}
					got, _, err := b.apply(d, v)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, got.snap); diff != "" {
						t.Errorf("snapshot (-wire.Apply +fast):\n%s", diff)
					}
					checkDerived(t, "", got, cur, v)
					// And back, from the snapshot just derived: what it
					// keeps for the next delta must be right too.
					again, _, err := got.apply(registrytest.Diff(t, cur, rich), v)
					if err != nil {
						t.Fatal(err)
					}
					checkDerived(t, "back again: ", again, rich, v)
				})
			}
		}
	}
	t.Run("removing a package twice fails as in wire", func(t *testing.T) {
		k := pk[0].Key()
		d := &wire.Delta{CollectedAt: rich.CollectedAt, SoftwareRemoved: []wire.PackageKey{k, k}}
		if _, err := wire.Apply(rich, d); err == nil {
			t.Fatal("wire.Apply accepted it")
		}
		if _, _, err := base.apply(d, 1); err == nil {
			t.Error("got no error, want one")
		}
	})
}

// checkDerived checks a snapshot apply derived against want: its hash in
// the form of protocol version v, and the heap estimate apply kept up to
// date against a fresh sum.
func checkDerived(t *testing.T, what string, got *canonSnap, want *wire.Snapshot, v int) {
	t.Helper()
	if h := registrytest.HashAt(t, want, v); got.hash != h {
		t.Errorf("%sgot hash %s, want %s", what, got.hash, h)
	}
	if sum := packagesHeap(got.snap, got.pkgJSON); got.pkgHeap != sum {
		t.Errorf("%spkgHeap %d, summed again %d", what, got.pkgHeap, sum)
	}
}

// TestDeltaChainSurvivesRestart applies more deltas than one chain holds,
// reopening the registry (an empty cache) at every step: each delta must
// apply against the rebuilt snapshot, and the API's snapshot must be the
// agent's.
func TestDeltaChainSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewTestStore(t)
	reg, err := OpenAndMigrate(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := reg.CreateSecret(ctx, "t", 0, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cur := registrytest.Rich(t)
	ca, _, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "pki"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := registrytest.CSR(t)
	var serial string
	res, err := reg.Enroll(ctx, EnrollInput{Secret: secret, Identity: wire.IdentityOf(cur), Now: time.Now()}, func(id string) ([]byte, *x509.Certificate, error) {
		certPEM, cert, err := ca.SignClient(csr, id, time.Now(), pki.ClientValidity)
		if err == nil {
			serial = pki.SerialHex(cert)
		}
		return certPEM, cert, err
	})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(rep *wire.Report) {
		t.Helper()
		ack, err := reg.ApplyReport(ctx, ReportInput{DeviceID: res.DeviceID, CertSerial: serial, Report: rep, Now: time.Now()})
		if err != nil || ack.Status != wire.AckApplied {
			t.Fatalf("seq %d: got %v %+v, want applied", rep.Seq, err, ack)
		}
	}
	curHash := registrytest.Hash(t, cur)
	apply(&wire.Report{ProtocolVersion: 1, Kind: wire.ReportFull, Seq: 1, Snapshot: cur, Hash: curHash})
	// The agent moves to protocol version 2's hash partway, so the
	// rebuilt snapshot is checked against last_hash of either form.
	for seq := uint64(2); seq < maxDeltaChain+8; seq++ {
		v := 1
		if seq >= 10 {
			v = 2
		}
		next := registrytest.Clone(t, cur)
		next.CollectedAt = next.CollectedAt.Add(time.Minute)
		next.Software.Packages[int(seq)%len(next.Software.Packages)].Version += "~1"
		d := registrytest.Diff(t, cur, next)
		if seq%3 == 0 {
			reg.Close()
			if reg, err = OpenAndMigrate(ctx, store, nil); err != nil {
				t.Fatal(err)
			}
		}
		nextHash := registrytest.HashAt(t, next, v)
		apply(&wire.Report{ProtocolVersion: v, Kind: wire.ReportDelta, Seq: seq, BaseHash: curHash, Delta: d, Hash: nextHash})
		cur, curHash = next, nextHash
	}
	reg.Close()
	if reg, err = OpenAndMigrate(ctx, store, nil); err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	got, err := reg.DeviceSnapshot(ctx, res.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := wire.CanonicalJSON(cur)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stored snapshot differs from the agent's:\n%s", cmp.Diff(string(want), string(got)))
	}
}

// TestCanonSnapHeapBytes holds the snapshot cache's bound to what its
// entries really keep: heapBytes must be within 30 % of the heap that
// canonical snapshots of a captured host, each decoded apart as reports
// are, free when dropped.
func TestCanonSnapHeapBytes(t *testing.T) {
	src := registrytest.Rich(t)
	const k = 40
	kept := make([]*canonSnap, k)
	est := 0
	for i := range kept {
		c, err := newCanonSnap(registrytest.Clone(t, src), wire.ProtocolVersion)
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = c
		est += c.heapBytes()
	}
	size := kept[0].size
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	clear(kept)
	runtime.GC()
	runtime.ReadMemStats(&without)
	real := int64(with.HeapAlloc) - int64(without.HeapAlloc)
	t.Logf("%d entries of %d B of canonical JSON: heapBytes %d B each, the heap they held %d B each", k, size, est/k, real/k)
	if ratio := float64(est) / float64(real); ratio < 0.7 || ratio > 1.3 {
		t.Errorf("heapBytes estimates %d B per entry, the heap held %d B: ratio %.2f, want within 30 %%", est/k, real/k, ratio)
	}
}

// BenchmarkCanonApply measures deriving and hashing the snapshot after a
// delta that upgrades one package of a captured host, in the hash form of
// each protocol version: the work a delta does before the write lock.
func BenchmarkCanonApply(b *testing.B) {
	rich := registrytest.Rich(b)
	next := registrytest.Clone(b, rich)
	next.CollectedAt = next.CollectedAt.Add(time.Hour)
	next.Software.Packages[len(next.Software.Packages)/2].Version += "+1"
	d := registrytest.Diff(b, rich, next)
	for v := 1; v <= wire.ProtocolVersion; v++ {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			base, err := newCanonSnap(rich, v)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := base.apply(d, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
