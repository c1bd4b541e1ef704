package registry

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/shared/wire"
)

// Folding the delta chain into devices.snapshot: after this many deltas,
// or once the deltas' JSON passes this fraction of the snapshot's, the
// next report writes the whole snapshot again. Between folds a small delta
// writes a few hundred bytes instead of the snapshot, and rebuilding a
// snapshot the cache lost replays at most maxDeltaChain deltas.
const (
	maxDeltaChain    = 32
	maxDeltaFraction = 4
)

// maxPackedSnapshot bounds what a stored packed snapshot may decompress to
// (reports are refused far below it; this only stops a damaged row from
// exhausting memory).
const maxPackedSnapshot = 256 << 20

// snapDict is the zstd dictionary (id snapDictID) that stored snapshots
// and deltas are packed with since it came in: what stored snapshots of
// other machines share (JSON keys, probe names and messages, the agent's
// reasons for unknown fields, pending updates of real Debian and Ubuntu
// machines), written by scripts/snapdict from real captures. Rows packed
// with it can only be read with these exact bytes (TestSnapDictPinned): a
// different dictionary takes a new id, and the decoder keeps this one.
//
//go:embed snapdict1.bin
var snapDict string

const snapDictID = 1

// snapCodec packs canonical JSON for snapshots.packed,
// snapshot_deltas.packed and events.packed: zstd with snapDict, through
// libzstd (dictPacker), packs the stored part of a 750-package Debian
// snapshot (16 KB of JSON, most of it 132 pending updates) to about 2.0 KB
// instead of 3.1 KB, and a delta's probe statuses from ~300 bytes to ~50.
// Its decoder reads those frames, the frames klauspost/compress packed
// with the dictionary before them (the same format) and those packed
// before the dictionary (no dictionary id). Its encoders and decoder are
// safe for concurrent use.
type snapCodec struct {
	enc framePacker
	// events packs event payloads (storedEventData): klauspost/compress
	// at its "better" level with the dictionary and the literals left
	// raw. A frame's Huffman table for its literals was most of what
	// unpacking a compliance.changed payload cost (3-4 µs, built again
	// for every event of a page); without it an event unpacks in half the
	// time, and its packed bytes grow by ~6 % (BenchmarkEventPayloads).
	// The decoder reads both.
	events *zstd.Encoder
	dec    *zstd.Decoder
}

// framePacker packs one zstd frame.
type framePacker interface {
	pack(src []byte) ([]byte, error)
}

func newSnapCodec() snapCodec {
	enc, err := newDictPacker([]byte(snapDict), snapDictID)
	if err != nil {
		panic("zstd dictionary built in: " + err.Error())
	}
	// Events are packed in write transactions, one at a time: one
	// encoder state (~9 MB of match tables) serves them. A 1 MB window
	// instead of the default 8 MB: what is packed here is small.
	events, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true),
		zstd.WithEncoderDictRaw(snapDictID, []byte(snapDict)), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true),
		zstd.WithNoEntropyCompression(true), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic("zstd encoder with constant options: " + err.Error())
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxPackedSnapshot), zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderDictRaw(snapDictID, []byte(snapDict)))
	if err != nil {
		panic("zstd decoder with constant options: " + err.Error())
	}
	return snapCodec{enc: enc, events: events, dec: dec}
}

func (c snapCodec) pack(canon []byte) ([]byte, error) {
	b, err := c.enc.pack(canon)
	if err != nil {
		return nil, fmt.Errorf("pack stored snapshot: %w", err)
	}
	return b, nil
}

func (c snapCodec) unpack(packed []byte) ([]byte, error) {
	b, err := c.dec.DecodeAll(packed, nil)
	if err != nil {
		return nil, fmt.Errorf("unpack stored snapshot: %w", err)
	}
	return b, nil
}

// loadSnapshot rebuilds a device's latest snapshot from the database: the
// stored snapshot with the delta chain applied. One statement reads the
// snapshot, its deltas and, when the snapshot was stored without its
// packages (software_rows), the device's packages from device_software, so
// it sees one consistent state even beside a writer. It returns nil when
// the device has no snapshot, or when the rebuilt one does not hash to
// last_hash (a registry written by something else): the caller then treats
// the base as unknown, which costs the agent one full report.
func (r *Registry) loadSnapshot(ctx context.Context, q querier, device string) (*canonSnap, error) {
	// Rows by the first column: -1 a package (any order), 0 the snapshot,
	// then the deltas in order.
	rows, err := q.QueryContext(ctx, `SELECT 0, s.snapshot, s.packed, d.last_hash, s.software_rows
		FROM snapshots s JOIN devices d ON d.id = s.device_id WHERE s.device_id = $1
		UNION ALL SELECT id, delta, packed, '', 0 FROM snapshot_deltas WHERE device_id = $1
		UNION ALL SELECT -1, '', p.packed, '', 0
		FROM snapshots s JOIN devices d ON d.id = s.device_id JOIN device_packages p ON p.device_num = d.num
		WHERE s.device_id = $1 AND s.software_rows = 1
		ORDER BY 1`, device)
	if err != nil {
		return nil, fmt.Errorf("read stored snapshot: %w", err)
	}
	defer rows.Close()
	// A snapshot stored whole is kept canonical (cs) and each delta
	// applied to it; one stored without its packages (fromRows) is kept
	// bare (snap) and takes device_software's packages (pkgs) at the end.
	var cs *canonSnap
	var snap *wire.Snapshot
	var entries []pkgEntry
	var fromRows bool
	var lastHash string
	// v is the protocol version whose hash form last_hash has: the
	// rebuilt snapshot is hashed the same way.
	v := 1
	for rows.Next() {
		var id int64
		var doc, h string
		var packed []byte
		var swRows int
		if err := rows.Scan(&id, &doc, &packed, &h, &swRows); err != nil {
			return nil, fmt.Errorf("read stored snapshot: %w", err)
		}
		switch {
		case id < 0:
			if entries, err = unpackEntries(packed); err != nil {
				return nil, fmt.Errorf("read stored snapshot: %w", err)
			}
			continue
		case id == 0:
			s, err := unpackJSON[wire.Snapshot](r.snaps.codec, doc, packed)
			if err != nil {
				return nil, fmt.Errorf("decode stored snapshot: %w", err)
			}
			lastHash, fromRows, v = h, swRows == 1, max(1, wire.HashVersion(h))
			if fromRows {
				snap = s
			} else if cs, err = newCanonSnap(s, v); err != nil {
				return nil, err
			}
			continue
		}
		if cs == nil && snap == nil {
			// Deltas without a snapshot to apply them to: nothing to rebuild.
			break
		}
		d, err := unpackJSON[wire.Delta](r.snaps.codec, doc, packed)
		if err != nil {
			return nil, fmt.Errorf("decode stored delta %d: %w", id, err)
		}
		if fromRows {
			// device_software holds the packages after the last delta
			d.SoftwareAdded, d.SoftwareRemoved = nil, nil
			snap, err = wire.Apply(snap, d)
		} else {
			cs, _, err = cs.apply(d, v)
		}
		if err != nil {
			r.logger.Warn("stored delta does not apply; the device's next delta will be answered resync", "device_id", device, "delta", id, "err", err)
			return nil, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored snapshot: %w", err)
	}
	rows.Close()
	if snap != nil {
		if snap.Software != nil {
			// The catalogue rows of the entries read above: they never
			// change, so this second read agrees with the first.
			pkgs, err := r.devicePackages(ctx, q, entries)
			if err != nil {
				return nil, fmt.Errorf("read stored snapshot: %w", err)
			}
			slices.SortFunc(pkgs, func(a, b wire.Package) int { return cmpKey(a.Key(), b.Key()) })
			snap.Software = &wire.Software{Packages: pkgs}
		}
		if cs, err = newCanonSnap(snap, v); err != nil {
			return nil, err
		}
	}
	if cs == nil {
		return nil, nil
	}
	if cs.hash != lastHash {
		r.logger.Warn("stored snapshot does not hash to last_hash; the device's next delta will be answered resync", "device_id", device, "hash", cs.hash, "last_hash", lastHash, "software_rows", fromRows)
		return nil, nil
	}
	return cs, nil
}

// unpackJSON decodes a stored snapshot or delta: packed when the row has
// it, else the text (rows stored before migrations 0019 and 0020).
func unpackJSON[T any](c snapCodec, doc string, packed []byte) (*T, error) {
	raw := []byte(doc)
	if packed != nil {
		var err error
		if raw, err = c.unpack(packed); err != nil {
			return nil, err
		}
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// latestSnapshot is the device's latest snapshot (nil when none): the
// cached one when it is the one with lastHash, else rebuilt and cached.
func (r *Registry) latestSnapshot(ctx context.Context, q querier, device, lastHash string) (*canonSnap, error) {
	if lastHash == "" {
		return nil, nil
	}
	if cs := r.snaps.get(device, lastHash); cs != nil {
		return cs, nil
	}
	cs, err := r.loadSnapshot(ctx, q, device)
	if err != nil || cs == nil {
		return nil, err
	}
	if cs.hash != lastHash {
		// A writer moved on between the two reads; do not cache.
		return cs, nil
	}
	r.snaps.put(device, cs)
	return cs, nil
}

// storeSnapshot records the snapshot after a report: the delta appended to
// the chain, or the whole snapshot when the report was full or the chain is
// due to be folded. Both are stored packed (snapCodec). A whole snapshot
// whose packages device_software can give back exactly (softwareFromRows)
// is stored without them and marked software_rows; the deltas appended to
// it then leave out their package lists too. It returns the chain's new
// length and size (the deltas' JSON), for the device row.
//
// stripped, when not nil, is packDelta(codec, delta, false) worked out
// before the transaction: packing is pure CPU, and done here it would
// hold the write lock (~12 % of the writer's time per small delta). chain
// is the device's stored chain as the transaction read it.
func storeSnapshot(ctx context.Context, tx *Tx, codec snapCodec, device string, delta *wire.Delta, stripped *packedDelta, next *canonSnap, chain deltaChain) (newCount, newSize int64, err error) {
	count, size := chain.count, chain.size
	if delta != nil && count+1 <= maxDeltaChain {
		fromRows := chain.softwareRows
		pd := stripped
		if !fromRows || pd == nil {
			if pd, err = packDelta(codec, delta, !fromRows); err != nil {
				return 0, 0, err
			}
		}
		// A chain on a snapshot without packages must end in packages
		// device_software gives back; if the delta breaks that, fold.
		fits := !fromRows || softwareFromRows(next, delta.SoftwareAdded)
		if fits && (size+int64(pd.size))*maxDeltaFraction <= int64(next.size) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO snapshot_deltas (device_id, delta, packed) VALUES ($1, '', $2)`, device, pd.packed); err != nil {
				return 0, 0, fmt.Errorf("store delta: %w", err)
			}
			return count + 1, size + int64(pd.size), nil
		}
	}
	var all []wire.Package
	if next.snap.Software != nil {
		all = next.snap.Software.Packages
	}
	fromRows := softwareFromRows(next, all)
	var canon []byte
	if fromRows {
		s := *next.snap
		if s.Software != nil {
			// present but held by device_software: "packages":null
			s.Software = &wire.Software{}
		}
		canon, err = json.Marshal(&s)
		if err != nil {
			return 0, 0, fmt.Errorf("encode snapshot: %w", err)
		}
	} else if canon, err = next.canonical(); err != nil {
		return 0, 0, err
	}
	if count > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_deltas WHERE device_id = $1`, device); err != nil {
			return 0, 0, fmt.Errorf("fold delta chain: %w", err)
		}
	}
	packed, err := codec.pack(canon)
	if err != nil {
		return 0, 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots (device_id, snapshot, packed, software_rows) VALUES ($1, '', $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET snapshot = '', packed = excluded.packed, software_rows = excluded.software_rows`, device, packed, boolInt(fromRows)); err != nil {
		return 0, 0, fmt.Errorf("store snapshot: %w", err)
	}
	return 0, 0, nil
}

// deltaChain is a device's stored delta chain: its length and the size
// of its deltas' JSON (devices.delta_count, delta_bytes), and whether the
// snapshot it applies to was stored without its packages
// (snapshots.software_rows), so its deltas leave them out too.
type deltaChain struct {
	count, size  int64
	softwareRows bool
}

// packedDelta is a delta as snapshot_deltas stores it: its JSON's length
// (what the chain's size counts) and the packed JSON.
type packedDelta struct {
	size   int
	packed []byte
}

// packDelta packs d for snapshot_deltas, with its package lists or
// without them (a chain on a snapshot stored without its packages, whose
// deltas' packages device_software holds).
func packDelta(codec snapCodec, d *wire.Delta, withPackages bool) (*packedDelta, error) {
	if !withPackages {
		stripped := *d
		stripped.SoftwareAdded, stripped.SoftwareRemoved = nil, nil
		d = &stripped
	}
	dj, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode delta: %w", err)
	}
	packed, err := codec.pack(dj)
	if err != nil {
		return nil, err
	}
	return &packedDelta{size: len(dj), packed: packed}, nil
}

// softwareFromRows says whether device_software and the catalogue give
// back s's packages exactly, so the stored snapshot can leave them out:
// each key once (canonical order is then the key order; packages sharing
// a key keep the agent's order, which the rows do not hold) and install
// dates that read back as the same JSON (stored as UTC text, so an offset
// other than zero would come back as Z). check are the packages whose
// dates are checked: all of them, or those a delta added to a snapshot
// already checked.
func softwareFromRows(s *canonSnap, check []wire.Package) bool {
	if s.snap.Software == nil || len(s.snap.Software.Packages) == 0 {
		return true
	}
	if s.pkgJSON == nil {
		return false
	}
	for _, p := range check {
		if p.InstallDate == nil {
			continue
		}
		a, err := p.InstallDate.MarshalJSON()
		if err != nil {
			return false
		}
		b, err := parseTime(fmtTime(*p.InstallDate)).MarshalJSON()
		if err != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}
