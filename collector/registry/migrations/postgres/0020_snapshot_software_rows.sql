-- Compact storage (issue 17), the snapshot's software section: a stored
-- snapshot whose packages device_software holds exactly (each key once,
-- install dates that read back unchanged) is stored without them, and
-- software_rows says so. Reading it (snapshot.go: loadSnapshot) applies
-- the delta chain to the rest and takes the packages from device_software
-- and the catalogue, which always hold the latest snapshot's; last_hash
-- still proves the result. Rows stored before keep their software
-- (software_rows 0) until the device's next full snapshot is stored.
ALTER TABLE snapshots ADD COLUMN software_rows INTEGER NOT NULL DEFAULT 0;

-- A delta packed like the snapshot (zstd of its JSON; delta is then
-- empty). Deltas against a snapshot with software_rows 1 are stored
-- without their package lists, which device_software holds.
ALTER TABLE snapshot_deltas ADD COLUMN packed BYTEA;
