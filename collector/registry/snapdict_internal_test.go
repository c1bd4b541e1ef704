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

// codecBefore is snapCodec as it packed before the dictionary.
func codecBefore(t *testing.T) snapCodec {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	return snapCodec{enc: enc}
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

// TestSnapCodecReadsBack packs each captured host's stored forms with the
// dictionary and with the codec before it, and checks that the registry's
// codec reads both back byte for byte, that its frames name the
// dictionary, and that the dictionary makes them smaller.
func TestSnapCodecReadsBack(t *testing.T) {
	t.Parallel()
	c, old := newSnapCodec(), codecBefore(t)
	var withDict, without int
	for name, s := range registrytest.Snapshots(t) {
		for i, b := range storedForms(t, s) {
			for codec, p := range map[string][]byte{"dictionary": c.pack(b), "before": old.pack(b)} {
				got, err := c.unpack(p)
				if err != nil {
					t.Fatalf("%s form %d packed %s: %v", name, i, codec, err)
				}
				if !bytes.Equal(got, b) {
					t.Errorf("%s form %d packed %s reads back %d bytes differing from the %d packed", name, i, codec, len(got), len(b))
				}
				var h zstd.Header
				if err := h.Decode(p); err != nil {
					t.Fatal(err)
				}
				if want := map[string]uint32{"dictionary": snapDictID, "before": 0}[codec]; h.DictionaryID != want {
					t.Errorf("%s form %d packed %s names dictionary %d, want %d", name, i, codec, h.DictionaryID, want)
				}
			}
			withDict += len(c.pack(b))
			without += len(old.pack(b))
		}
	}
	if withDict >= without {
		t.Errorf("the captured hosts' stored forms pack to %d bytes with the dictionary, %d without", withDict, without)
	}
	damaged := c.pack([]byte(`{"collected_at":"2026-11-02T09:00:00Z"}`))
	damaged[len(damaged)-1] ^= 1
	if _, err := c.unpack(damaged); err == nil {
		t.Error("a damaged frame unpacked without error")
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
