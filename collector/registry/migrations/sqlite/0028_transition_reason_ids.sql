-- Re-evaluation and compact storage (issue 17): a compliance transition
-- names its reason by its id in compliance_reasons (0027) instead of
-- repeating the text. A policy change that moves every device writes a
-- transition per device and policy it changed, 300,000 rows at 100,000
-- devices, and the reasons, most of them shared, were about half of each
-- row's bytes. 0 is no reason. Same table otherwise; see 0016 and 0025.
INSERT OR IGNORE INTO compliance_reasons (text)
SELECT DISTINCT reason FROM compliance_transitions WHERE reason <> '' ORDER BY reason;
CREATE TABLE compliance_transitions_ids (
    device_num INTEGER NOT NULL,
    policy_id  TEXT NOT NULL,
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         INTEGER NOT NULL,
    status     TEXT NOT NULL,
    previous   TEXT NOT NULL DEFAULT '',
    -- compliance_reasons.id; 0 when there is no reason
    reason_id  INTEGER NOT NULL DEFAULT 0,
    -- time first: a fleet evaluation's rows are appended (see 0016)
    PRIMARY KEY (at, device_num, policy_id)
) WITHOUT ROWID;
INSERT INTO compliance_transitions_ids (device_num, policy_id, at, status, previous, reason_id)
SELECT t.device_num, t.policy_id, t.at, t.status, t.previous, coalesce(r.id, 0)
FROM compliance_transitions t LEFT JOIN compliance_reasons r ON t.reason <> '' AND r.text = t.reason;
DROP TABLE compliance_transitions;
ALTER TABLE compliance_transitions_ids RENAME TO compliance_transitions;
-- a device's history, and each pair's newest transition (states at a time)
CREATE INDEX compliance_transitions_device ON compliance_transitions (device_num, policy_id, at);
-- one policy's history (daily rates for one policy)
CREATE INDEX compliance_transitions_policy ON compliance_transitions (policy_id, at);
