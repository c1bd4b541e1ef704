-- PostgreSQL edition of ../sqlite/0028_transition_reason_ids.sql (same
-- version, same table): a compliance transition names its reason by its
-- id in compliance_reasons (0027); 0 is no reason.
INSERT INTO compliance_reasons (text)
SELECT DISTINCT reason FROM compliance_transitions WHERE reason <> '' ORDER BY reason
ON CONFLICT (text) DO NOTHING;
CREATE TABLE compliance_transitions_ids (
    device_num BIGINT NOT NULL,
    policy_id  TEXT NOT NULL,
    -- Unix nanoseconds, UTC: the registry's times to the nanosecond
    at         BIGINT NOT NULL,
    status     TEXT NOT NULL,
    previous   TEXT NOT NULL DEFAULT '',
    -- compliance_reasons.id; 0 when there is no reason
    reason_id  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (at, device_num, policy_id)
);
INSERT INTO compliance_transitions_ids (device_num, policy_id, at, status, previous, reason_id)
SELECT t.device_num, t.policy_id, t.at, t.status, t.previous, coalesce(r.id, 0)
FROM compliance_transitions t LEFT JOIN compliance_reasons r ON t.reason <> '' AND r.text = t.reason;
DROP TABLE compliance_transitions;
ALTER TABLE compliance_transitions_ids RENAME TO compliance_transitions;
ALTER INDEX compliance_transitions_ids_pkey RENAME TO compliance_transitions_pkey;
-- a device's history, and each pair's newest transition (states at a time)
CREATE INDEX compliance_transitions_device ON compliance_transitions (device_num, policy_id, at);
-- one policy's history (daily rates for one policy)
CREATE INDEX compliance_transitions_policy ON compliance_transitions (policy_id, at);
