-- PostgreSQL edition of ../sqlite/0016_compliance_history.sql (same version, same table).
-- Compliance history (issue 16): every change of a device's status for a
-- policy, with its time, so compliance at any past moment and the daily
-- rate over a period can be shown to an auditor. Rows are written in the
-- transaction that writes the device's results (registry/compliance.go,
-- linkeval.go) and when a device leaves scope (revoked, merged away:
-- status 'removed', also when a policy is deleted or stops giving the
-- device a result). A reason-only change is not a transition.
-- at is the registry's fixed-width time text, so text order is time order;
-- previous is '' for the device's first result for the policy. Two changes
-- at the same instant (an injected clock) keep one row: the later status.
-- Retention (0017) deletes old rows but keeps each pair's newest.
CREATE TABLE compliance_transitions (
    device_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    at        TEXT NOT NULL,
    status    TEXT NOT NULL,
    previous  TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT '',
    -- time first: rows are appended in the order they are written (a
    -- fleet evaluation's thousands of rows fill a few pages instead of
    -- touching one per device), read in time order for a period and purged
    -- oldest first
    PRIMARY KEY (at, device_id, policy_id)
);
-- a device's history, and each pair's newest transition (states at a time)
CREATE INDEX compliance_transitions_device ON compliance_transitions (device_id, policy_id, at);
-- one policy's history (daily rates for one policy)
CREATE INDEX compliance_transitions_policy ON compliance_transitions (policy_id, at);

-- A starting point for existing collectors: each unrevoked device's stored
-- results, as of the evaluation that wrote them.
INSERT INTO compliance_transitions (device_id, policy_id, at, status, previous, reason)
SELECT c.device_id, j.value ->> 'policy_id', c.evaluated_at, j.value ->> 'status', '', coalesce(j.value ->> 'reason', '')
FROM device_compliance c JOIN devices d ON d.id = c.device_id, jsonb_array_elements(c.results::jsonb) AS j(value)
WHERE c.evaluated_at IS NOT NULL AND d.state <> 'revoked';
