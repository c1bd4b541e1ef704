-- Reports stop rewriting the stored snapshot (a hundred kilobytes or more)
-- on every report. SQLite rewrites a whole row, overflow pages included,
-- whenever one column changes, so the snapshot moves out of devices (whose
-- row every report and heartbeat updates) into its own table; and a delta
-- report appends its delta to snapshot_deltas instead of rewriting it. The
-- latest snapshot is snapshots.snapshot with the device's deltas applied in
-- id order; the chain (devices.delta_count, delta_bytes) is folded back
-- into snapshots when it grows and on every full report.
CREATE TABLE snapshots (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    -- canonical JSON of a full snapshot
    snapshot  TEXT NOT NULL
);
INSERT INTO snapshots (device_id, snapshot) SELECT id, snapshot FROM devices WHERE snapshot IS NOT NULL;
ALTER TABLE devices DROP COLUMN snapshot;

CREATE TABLE snapshot_deltas (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    -- a wire.Delta as JSON
    delta     TEXT NOT NULL
);
CREATE INDEX snapshot_deltas_device ON snapshot_deltas (device_id, id);
ALTER TABLE devices ADD COLUMN delta_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN delta_bytes INTEGER NOT NULL DEFAULT 0;
