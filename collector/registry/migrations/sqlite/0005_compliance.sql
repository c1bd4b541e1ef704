-- Compliance (issue 5): the policy set in force and its history, each
-- device's compact facts (compliance.Facts, so re-evaluating the fleet
-- never decodes snapshots), its per-policy results and overall state, and
-- the exceptions that waive a policy for a device or an asset.

-- Every policy set the collector has used, newest last: the one in force
-- and the audit trail of who changed it. source is default (the embedded
-- baseline), file (--policies) or api (PUT /api/v1/policies).
CREATE TABLE policy_sets (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    -- the document as given (YAML or JSON) and its sha256
    document   TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- A device's facts, written by its reports only. Kept apart from its
-- results because SQLite rewrites a whole row on every update: a fleet
-- re-evaluation then rewrites the small results rows, not the facts.
CREATE TABLE device_facts (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    facts     TEXT NOT NULL,
    facts_v   INTEGER NOT NULL
);

-- rev counts the device's own evaluations (reports); a fleet-wide
-- evaluation writes a device's results only if rev is still what it read,
-- so it never overwrites the result of a report that came in meanwhile.
-- results is the device's per-policy results as one JSON array of
-- {policy_id, status, reason, exception_id, failing_since}, encoded
-- deterministically: one row per device keeps re-evaluating 100,000
-- devices to one read, a string comparison per device, and one write per
-- changed device; fleet-wide counts use json_each. failing repeats the
-- failing-since times as "POLICY=TIME,..." (usually ''), the only part of
-- the results an evaluation reads back.
CREATE TABLE device_compliance (
    device_id    TEXT PRIMARY KEY REFERENCES devices (id),
    rev          INTEGER NOT NULL DEFAULT 0,
    -- worst result (compliance.Worst); '' before the first evaluation
    state        TEXT NOT NULL DEFAULT '',
    results      TEXT NOT NULL DEFAULT '[]',
    failing      TEXT NOT NULL DEFAULT '',
    evaluated_at TEXT
);
CREATE INDEX device_compliance_state ON device_compliance (state);

-- device_id or asset_tag (the asset's tag as the register spells it) is
-- set, never both. An exception is never deleted: revoking sets revoked_at.
CREATE TABLE exceptions (
    id                   TEXT PRIMARY KEY,
    policy_id            TEXT NOT NULL,
    device_id            TEXT NOT NULL DEFAULT '',
    asset_tag            TEXT NOT NULL DEFAULT '',
    reason               TEXT NOT NULL,
    compensating_control TEXT NOT NULL DEFAULT '',
    approver             TEXT NOT NULL,
    created_by           TEXT NOT NULL DEFAULT '',
    created_at           TEXT NOT NULL,
    expires_at           TEXT NOT NULL,
    revoked_at           TEXT,
    revoked_by           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX exceptions_device ON exceptions (device_id);
CREATE INDEX exceptions_asset ON exceptions (asset_tag);
CREATE INDEX exceptions_expires ON exceptions (expires_at);
