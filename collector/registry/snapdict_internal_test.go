package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// TestSnapDictPinned: rows packed with dictionary 1 are read with these
// exact bytes; a new dictionary takes a new id (scripts/snapdict).
func TestSnapDictPinned(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(snapDict))
	if got, want := hex.EncodeToString(sum[:]), "1be3841d6bb26c91bcedcd05edc00cd4716bdb0ca0b1e3f3d9415d500406982f"; got != want {
		t.Fatalf("snapdict1.bin has sha256 %s, want %s: rows packed with dictionary %d cannot be read with other bytes", got, want, snapDictID)
	}
}

// klauspostPacker packs with klauspost/compress, as the registry did
// before libzstd.
type klauspostPacker struct{ *zstd.Encoder }

func (k klauspostPacker) pack(src []byte) ([]byte, error) { return k.EncodeAll(src, nil), nil }

// codecBefore is snapCodec as it packed before the dictionary.
func codecBefore(t *testing.T) snapCodec {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	return snapCodec{enc: klauspostPacker{enc}}
}

// klauspostDict is the encoder that packed stored snapshots, deltas and
// events with the dictionary before libzstd did.
func klauspostDict() klauspostPacker {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true),
		zstd.WithEncoderDictRaw(snapDictID, []byte(snapDict)), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic("zstd encoder with constant options: " + err.Error())
	}
	return klauspostPacker{enc}
}

// mustPack packs b with c.
func mustPack(t *testing.T, c snapCodec, b []byte) []byte {
	t.Helper()
	p, err := c.pack(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storedForms are what the registry packs for a captured host: its
// canonical snapshot, the snapshot without its packages, and a delta
// carrying its probes and a few of its packages.
func storedForms(t *testing.T, s *wire.Snapshot) [][]byte {
	t.Helper()
	whole, err := wire.CanonicalJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	bare := *s
	if bare.Software != nil {
		bare.Software = &wire.Software{}
	}
	d := wire.Delta{CollectedAt: s.CollectedAt, AgentVersion: s.AgentVersion, Platform: s.Platform, Probes: s.Probes}
	if s.Software != nil {
		d.SoftwareAdded = s.Software.Packages[:min(3, len(s.Software.Packages))]
	}
	out := [][]byte{whole}
	for _, v := range []any{&bare, &d} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestSnapCodecReadsBack packs each captured host's stored forms as the
// registry packs them (libzstd with the dictionary), as klauspost/compress
// packed them with the dictionary before, and as they were packed before
// the dictionary, and checks that the registry's codec reads all three
// back byte for byte, that its frames name the dictionary and carry a
// checksum, and that they are no larger than klauspost's and smaller than
// without the dictionary.
func TestSnapCodecReadsBack(t *testing.T) {
	t.Parallel()
	c, old := newSnapCodec(), codecBefore(t)
	kp := snapCodec{enc: klauspostDict()}
	sizes := map[string]int{}
	large := 0 // forms packed at dictPackLargeLevel
	for name, s := range registrytest.Snapshots(t) {
		for i, b := range storedForms(t, s) {
			if len(b) >= dictPackLargeInput {
				large++
			}
			for _, codec := range []struct {
				name string
				c    snapCodec
				id   uint32
			}{{"libzstd", c, snapDictID}, {"klauspost", kp, snapDictID}, {"before", old, 0}} {
				p := mustPack(t, codec.c, b)
				sizes[codec.name] += len(p)
				got, err := c.unpack(p)
				if err != nil {
					t.Fatalf("%s form %d packed %s: %v", name, i, codec.name, err)
				}
				if !bytes.Equal(got, b) {
					t.Errorf("%s form %d packed %s reads back %d bytes differing from the %d packed", name, i, codec.name, len(got), len(b))
				}
				var h zstd.Header
				if err := h.Decode(p); err != nil {
					t.Fatal(err)
				}
				if h.DictionaryID != codec.id || !h.HasCheckSum {
					t.Errorf("%s form %d packed %s names dictionary %d, checksum %v; want %d, true", name, i, codec.name, h.DictionaryID, h.HasCheckSum, codec.id)
				}
			}
		}
	}
	if sizes["libzstd"] > sizes["klauspost"] || sizes["libzstd"] >= sizes["before"] {
		t.Errorf("the captured hosts' stored forms pack to %d bytes through libzstd, %d through klauspost/compress, %d without the dictionary",
			sizes["libzstd"], sizes["klauspost"], sizes["before"])
	}
	t.Logf("packed bytes: %v; %d forms of %d bytes or more", sizes, large, dictPackLargeInput)
	if large == 0 {
		t.Errorf("no stored form of %d bytes or more: libzstd's level for large inputs is not read back", dictPackLargeInput)
	}
	for _, at := range []string{"content", "checksum"} {
		damaged := mustPack(t, c, []byte(`{"collected_at":"2026-11-02T09:00:00Z","probes":[{"name":"hardware","status":"ok"}]}`))
		i := len(damaged) - 1
		if at == "content" {
			i = len(damaged) - 6
		}
		damaged[i] ^= 1
		if _, err := c.unpack(damaged); err == nil {
			t.Errorf("a frame damaged in its %s unpacked without error", at)
		}
	}
}

// TestSnapshotsPackedBeforeDictionary stores captured hosts' snapshots
// and a delta each with the codec before the dictionary, as the registry
// stored them, and checks that the registry rebuilds every one to its
// hash; the device's next snapshot is then packed with the dictionary
// and rebuilds too.
func TestSnapshotsPackedBeforeDictionary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := OpenAndMigrate(ctx, NewTestStore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	_, snaps, enrol := capturedHosts(t, r, now)
	old := codecBefore(t)
	var names []string
	for name, s := range snaps {
		// without packages, so that no device_packages rows are needed:
		// the packages' storage is not what this tests
		if s.Hardware != nil && (s.Software == nil || len(s.Software.Packages) == 0) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	deltas := 0
	if len(names) < 2 {
		t.Fatalf("captured hosts without packages: %v, want two or more", names)
	}
	for _, name := range names {
		s := registrytest.Clone(t, snaps[name])
		d := enrol(s)
		cs, err := newCanonSnap(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		next := registrytest.Clone(t, s)
		next.CollectedAt = next.CollectedAt.Add(time.Hour)
		next.AgentVersion += "+1"
		delta, err := wire.Diff(s, next)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := newCanonSnap(next, 1)
		if err != nil {
			t.Fatal(err)
		}
		err = r.write(ctx, func(tx *sql.Tx) error {
			if _, _, err := storeSnapshot(ctx, &Tx{Tx: tx}, old, d.id, nil, nil, cs, deltaChain{}); err != nil {
				return err
			}
			var chain deltaChain
			if err := tx.QueryRowContext(ctx, `SELECT software_rows FROM snapshots WHERE device_id = $1`, d.id).Scan(&chain.softwareRows); err != nil {
				return err
			}
			n, _, err := storeSnapshot(ctx, &Tx{Tx: tx}, old, d.id, delta, nil, ns, chain)
			if err != nil {
				return err
			}
			// a small snapshot folds instead (maxDeltaFraction)
			deltas += int(n)
			_, err = tx.ExecContext(ctx, `UPDATE devices SET last_hash = $1 WHERE id = $2`, ns.hash, d.id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.loadSnapshot(ctx, r.db, d.id)
		if err != nil || got == nil || got.hash != ns.hash {
			t.Fatalf("%s packed before the dictionary: rebuilt %v, %v; want hash %s", name, got, err, ns.hash)
		}
		err = r.write(ctx, func(tx *sql.Tx) error {
			_, _, err := storeSnapshot(ctx, &Tx{Tx: tx}, r.snaps.codec, d.id, nil, nil, ns, deltaChain{count: 1})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err = r.loadSnapshot(ctx, r.db, d.id); err != nil || got == nil || got.hash != ns.hash {
			t.Fatalf("%s packed with the dictionary: rebuilt %v, %v; want hash %s", name, got, err, ns.hash)
		}
	}
	if deltas == 0 {
		t.Error("every delta folded its chain; no delta packed before the dictionary was read")
	}
}

// TestPackedFrameSizes packs inputs from empty to larger than libzstd's
// window, so that nameDictionary rewrites frames with and without a
// window descriptor, and reads each back.
func TestPackedFrameSizes(t *testing.T) {
	t.Parallel()
	c := newSnapCodec()
	var whole []byte
	for _, s := range registrytest.Snapshots(t) {
		b, err := wire.CanonicalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, b...)
	}
	// past libzstd's window at dictPackLargeLevel (2 MB), so that the
	// frame has a window descriptor
	long := bytes.Repeat(whole, (6<<20)/len(whole)+1)
	seen := map[bool]bool{} // single segment or not
	for _, in := range [][]byte{nil, whole[:1], whole[:1000], whole[:dictPackLargeInput-1], whole[:dictPackLargeInput], whole, long} {
		n := len(in)
		p := mustPack(t, c, in)
		var h zstd.Header
		if err := h.Decode(p); err != nil {
			t.Fatal(err)
		}
		seen[h.SingleSegment] = true
		if h.DictionaryID != snapDictID || !h.HasCheckSum {
			t.Errorf("%d bytes: frame names dictionary %d, checksum %v; want %d, true", n, h.DictionaryID, h.HasCheckSum, snapDictID)
		}
		got, err := c.unpack(p)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("%d bytes read back as %d differing", n, len(got))
		}
	}
	if !seen[true] || !seen[false] {
		t.Errorf("frames single-segment %v: want both kinds (the whole captured set is %d bytes)", seen, len(whole))
	}
}
