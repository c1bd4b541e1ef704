-- Re-evaluation (issue 17): one row per device and instant instead of one
-- per device, policy and instant. A policy change that moves every device
-- wrote a transition for each policy it changed, 300,000 rows at 100,000
-- devices for three policies, each into three B-trees; the rows, not their
-- bytes, were the cost (docs/fleet.md, seventh pass). A row's changes are a
-- JSON array with one element per policy whose status changed:
-- [policy_id, status, previous, reason_id] (reason_id: compliance_reasons,
-- 0 for none), one element per policy.
CREATE TABLE compliance_changes (
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         INTEGER NOT NULL,
    device_num INTEGER NOT NULL,
    changes    TEXT NOT NULL,
    -- time first: a fleet evaluation's rows are appended (see 0016)
    PRIMARY KEY (at, device_num)
) WITHOUT ROWID;
INSERT INTO compliance_changes (at, device_num, changes)
SELECT at, device_num, json_group_array(json_array(policy_id, status, previous, reason_id))
FROM (SELECT * FROM compliance_transitions ORDER BY at, device_num, policy_id)
GROUP BY at, device_num;
DROP TABLE compliance_transitions;
-- a device's history, and each pair's newest change (states at a time)
CREATE INDEX compliance_changes_device ON compliance_changes (device_num, at);
-- The transitions as 0028 stored them, one row per device, policy and
-- instant: what every reader queries.
CREATE VIEW compliance_transitions (device_num, policy_id, at, status, previous, reason_id) AS
SELECT c.device_num, e.value ->> 0, c.at, e.value ->> 1, e.value ->> 2, e.value ->> 3
FROM compliance_changes c, json_each(c.changes) e;
