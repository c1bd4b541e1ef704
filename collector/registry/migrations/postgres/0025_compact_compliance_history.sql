-- PostgreSQL edition of ../sqlite/0025_compact_compliance_history.sql (same version, same table).
-- Compact storage (issue 17): transitions keyed by the device's number
-- and the time as Unix nanoseconds instead of the 36-byte device id and
-- the 30-byte time text. Readers join devices for the id.
-- No foreign key, as 0016 had none: devices are never deleted, and the
-- check would be one more index lookup per row of those 300,000.
CREATE TABLE compliance_transitions_compact (
    device_num BIGINT NOT NULL,
    policy_id  TEXT NOT NULL,
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         BIGINT NOT NULL,
    status     TEXT NOT NULL,
    previous   TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (at, device_num, policy_id)
);
INSERT INTO compliance_transitions_compact (device_num, policy_id, at, status, previous, reason)
SELECT d.num, t.policy_id,
       extract(epoch FROM (substr(t.at, 1, 19) || '+00')::timestamptz)::bigint * 1000000000 + substr(t.at, 21, 9)::bigint,
       t.status, t.previous, t.reason
FROM compliance_transitions t JOIN devices d ON d.id = t.device_id;
DROP TABLE compliance_transitions;
ALTER TABLE compliance_transitions_compact RENAME TO compliance_transitions;
ALTER INDEX compliance_transitions_compact_pkey RENAME TO compliance_transitions_pkey;
-- a device's history, and each pair's newest transition (states at a time)
CREATE INDEX compliance_transitions_device ON compliance_transitions (device_num, policy_id, at);
-- one policy's history (daily rates for one policy)
CREATE INDEX compliance_transitions_policy ON compliance_transitions (policy_id, at);
