-- PostgreSQL edition of ../sqlite/0029_compliance_changes.sql (same
-- version, same table and view): one row per device and instant, its
-- changes a JSON array of [policy_id, status, previous, reason_id]. Text,
-- as device_compliance.results is, read through jsonb.
CREATE TABLE compliance_changes (
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         BIGINT NOT NULL,
    device_num BIGINT NOT NULL,
    changes    TEXT NOT NULL,
    PRIMARY KEY (at, device_num)
);
INSERT INTO compliance_changes (at, device_num, changes)
SELECT at, device_num, jsonb_agg(jsonb_build_array(policy_id, status, previous, reason_id) ORDER BY policy_id)::text
FROM compliance_transitions
GROUP BY at, device_num;
DROP TABLE compliance_transitions;
-- a device's history, and each pair's newest change (states at a time)
CREATE INDEX compliance_changes_device ON compliance_changes (device_num, at);
-- The transitions as 0028 stored them, one row per device, policy and
-- instant: what every reader queries.
CREATE VIEW compliance_transitions (device_num, policy_id, at, status, previous, reason_id) AS
SELECT c.device_num, e.value ->> 0, c.at, e.value ->> 1, e.value ->> 2, (e.value ->> 3)::bigint
FROM compliance_changes c, jsonb_array_elements(c.changes::jsonb) AS e(value);
