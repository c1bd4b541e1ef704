-- Offboarding wipes (issue 6). A wipe request is evidence an auditor reads
-- years later, so it holds no foreign keys to devices or assets: it keeps
-- its own copy of what identified the machine when the wipe was asked for,
-- and survives the device's re-enrolment or deletion. Every state change
-- is a row in wipe_transitions with its time, actor and detail.

CREATE TABLE wipe_requests (
    id               TEXT PRIMARY KEY,
    -- '' when the asset has no enrolled device (manual path only)
    device_id        TEXT NOT NULL DEFAULT '',
    asset_id         TEXT NOT NULL DEFAULT '',
    asset_tag        TEXT NOT NULL DEFAULT '',
    -- the asset's status before offboarding, restored on cancel
    asset_status_before TEXT NOT NULL DEFAULT '',
    -- identification as it was at the request
    hostname         TEXT NOT NULL DEFAULT '',
    vendor           TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL DEFAULT '',
    system_serial    TEXT NOT NULL DEFAULT '',
    classification   TEXT NOT NULL DEFAULT '',
    owner            TEXT NOT NULL DEFAULT '',
    location         TEXT NOT NULL DEFAULT '',
    ticket           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    -- agent or manual
    method           TEXT NOT NULL,
    -- 1: the asset goes back to in_stock instead of decommissioned
    reuse            INTEGER NOT NULL DEFAULT 0,
    -- requested, delivered, in_progress, completed, failed, verified,
    -- cancelled, expired
    state            TEXT NOT NULL,
    nonce            TEXT NOT NULL UNIQUE,
    issued_at        TEXT NOT NULL,
    -- the command's expiry and the escalation deadline
    deadline         TEXT NOT NULL,
    created_by       TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    completed_at     TEXT,
    verified_at      TEXT,
    failure_reason   TEXT NOT NULL DEFAULT '',
    -- how it was wiped: the agent's or the technician's account
    wipe_method      TEXT NOT NULL DEFAULT '',
    tool             TEXT NOT NULL DEFAULT '',
    tool_version     TEXT NOT NULL DEFAULT '',
    performed_by     TEXT NOT NULL DEFAULT '',
    verified_by      TEXT NOT NULL DEFAULT '',
    -- raw evidence (the agent's wire.WipeEvidence JSON, or the file a
    -- technician attached) and its SHA-256 in hex
    evidence         BLOB,
    evidence_name    TEXT NOT NULL DEFAULT '',
    evidence_sha256  TEXT NOT NULL DEFAULT '',
    -- the same hardware enrolling again after the wipe
    reenrolled_at    TEXT,
    reenrolled_by    TEXT NOT NULL DEFAULT '',
    verification     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wipe_requests_device ON wipe_requests (device_id, state);
CREATE INDEX wipe_requests_state ON wipe_requests (state, deadline);

CREATE TABLE wipe_transitions (
    id          INTEGER PRIMARY KEY,
    wipe_id     TEXT NOT NULL REFERENCES wipe_requests (id),
    at          TEXT NOT NULL,
    from_state  TEXT NOT NULL DEFAULT '',
    to_state    TEXT NOT NULL,
    -- person, token, device or collector
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wipe_transitions_wipe ON wipe_transitions (wipe_id, id);
