-- Compact storage (issue 17): a policy change that moves every device
-- writes a transition per device and policy it changed, 300,000 rows for
-- three policies at 100,000 devices, each into the table and both of its
-- indexes. Keyed by the 36-byte device id and the 30-byte time text, a
-- row and its index entries took 351 bytes on disk (the benchmark's
-- reasons, ~90 bytes, included); keyed by the device's number
-- (devices.num: small, never reused, and devices are never deleted) and
-- the time as Unix nanoseconds, 181. Readers join devices for the id.
-- Same columns otherwise; see 0016 for what the rows mean.
-- No foreign key, as 0016 had none: devices are never deleted, and the
-- check would be one more index lookup per row of those 300,000.
CREATE TABLE compliance_transitions_compact (
    device_num INTEGER NOT NULL,
    policy_id  TEXT NOT NULL,
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         INTEGER NOT NULL,
    status     TEXT NOT NULL,
    previous   TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    -- time first: a fleet evaluation's rows are appended (see 0016)
    PRIMARY KEY (at, device_num, policy_id)
) WITHOUT ROWID;
INSERT INTO compliance_transitions_compact (device_num, policy_id, at, status, previous, reason)
SELECT d.num, t.policy_id,
       CAST(strftime('%s', substr(t.at, 1, 19)) AS INTEGER) * 1000000000 + CAST(substr(t.at, 21, 9) AS INTEGER),
       t.status, t.previous, t.reason
FROM compliance_transitions t JOIN devices d ON d.id = t.device_id;
DROP TABLE compliance_transitions;
ALTER TABLE compliance_transitions_compact RENAME TO compliance_transitions;
-- a device's history, and each pair's newest transition (states at a time)
CREATE INDEX compliance_transitions_device ON compliance_transitions (device_num, policy_id, at);
-- one policy's history (daily rates for one policy)
CREATE INDEX compliance_transitions_policy ON compliance_transitions (policy_id, at);
