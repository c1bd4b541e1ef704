package registry

import (
	"context"
	"encoding/json"
	"fmt"

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

// snapCodec packs canonical JSON for snapshots.packed: zstd at its
// "better" level packs a 750-package snapshot (about 130 KB) to about a
// tenth in well under a millisecond. Its encoder and decoder are safe for
// concurrent use.
type snapCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newSnapCodec() snapCodec {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(true))
	if err != nil {
		panic("zstd encoder with constant options: " + err.Error())
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxPackedSnapshot), zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic("zstd decoder with constant options: " + err.Error())
	}
	return snapCodec{enc: enc, dec: dec}
}

func (c snapCodec) pack(canon []byte) []byte { return c.enc.EncodeAll(canon, nil) }

func (c snapCodec) unpack(packed []byte) ([]byte, error) {
	b, err := c.dec.DecodeAll(packed, nil)
	if err != nil {
		return nil, fmt.Errorf("unpack stored snapshot: %w", err)
	}
	return b, nil
}

// loadSnapshot rebuilds a device's latest snapshot from the database: the
// stored snapshot with the delta chain applied. One statement reads both,
// so it sees one consistent state even beside a writer. It returns nil when
// the device has no snapshot, or when the rebuilt one does not hash to
// last_hash (a registry written by something else): the caller then treats
// the base as unknown, which costs the agent one full report.
func (r *Registry) loadSnapshot(ctx context.Context, q querier, device string) (*canonSnap, error) {
	rows, err := q.QueryContext(ctx, `SELECT 0, s.snapshot, s.packed, d.last_hash FROM snapshots s JOIN devices d ON d.id = s.device_id WHERE s.device_id = $1
		UNION ALL SELECT id, delta, NULL, '' FROM snapshot_deltas WHERE device_id = $1 ORDER BY 1`, device)
	if err != nil {
		return nil, fmt.Errorf("read stored snapshot: %w", err)
	}
	defer rows.Close()
	var cs *canonSnap
	var lastHash string
	for rows.Next() {
		var id int64
		var doc, h string
		var packed []byte
		if err := rows.Scan(&id, &doc, &packed, &h); err != nil {
			return nil, fmt.Errorf("read stored snapshot: %w", err)
		}
		if id == 0 {
			raw := []byte(doc)
			if packed != nil {
				// written since migration 0019; before it, the text
				if raw, err = r.snaps.codec.unpack(packed); err != nil {
					return nil, err
				}
			}
			s := new(wire.Snapshot)
			if err := json.Unmarshal(raw, s); err != nil {
				return nil, fmt.Errorf("decode stored snapshot: %w", err)
			}
			if cs, err = newCanonSnap(s); err != nil {
				return nil, err
			}
			lastHash = h
			continue
		}
		if cs == nil {
			// Deltas without a snapshot to apply them to: nothing to rebuild.
			break
		}
		d := new(wire.Delta)
		if err := json.Unmarshal([]byte(doc), d); err != nil {
			return nil, fmt.Errorf("decode stored delta %d: %w", id, err)
		}
		if cs, _, err = cs.apply(d); err != nil {
			r.logger.Warn("stored delta does not apply; the device's next delta will be answered resync", "device_id", device, "delta", id, "err", err)
			return nil, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored snapshot: %w", err)
	}
	if cs == nil {
		return nil, nil
	}
	if cs.hash != lastHash {
		r.logger.Warn("stored snapshot does not hash to last_hash; the device's next delta will be answered resync", "device_id", device, "hash", cs.hash, "last_hash", lastHash)
		return nil, nil
	}
	return cs, nil
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
// due to be folded; the whole snapshot is stored packed (snapCodec). It returns the chain's new length and size, for the
// device row.
func storeSnapshot(ctx context.Context, tx *Tx, codec snapCodec, device string, delta *wire.Delta, next *canonSnap, count, size int64) (newCount, newSize int64, err error) {
	if delta != nil {
		dj, err := json.Marshal(delta)
		if err != nil {
			return 0, 0, fmt.Errorf("encode delta: %w", err)
		}
		if count+1 <= maxDeltaChain && (size+int64(len(dj)))*maxDeltaFraction <= int64(next.size) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO snapshot_deltas (device_id, delta) VALUES ($1, $2)`, device, string(dj)); err != nil {
				return 0, 0, fmt.Errorf("store delta: %w", err)
			}
			return count + 1, size + int64(len(dj)), nil
		}
	}
	canon, err := next.canonical()
	if err != nil {
		return 0, 0, err
	}
	if count > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_deltas WHERE device_id = $1`, device); err != nil {
			return 0, 0, fmt.Errorf("fold delta chain: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots (device_id, snapshot, packed) VALUES ($1, '', $2)
		ON CONFLICT (device_id) DO UPDATE SET snapshot = '', packed = excluded.packed`, device, codec.pack(canon)); err != nil {
		return 0, 0, fmt.Errorf("store snapshot: %w", err)
	}
	return 0, 0, nil
}
