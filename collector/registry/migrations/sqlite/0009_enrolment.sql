-- Enrolment and device identity (issue 11). Hardware identity is
-- self-reported, so it continues a device record only under a rule that
-- makes it safe; each enrolment records which secret and which rule. A
-- match with a live device becomes a new record and an identity conflict
-- pair for a person to resolve (merge or revoke). A wipe command goes only
-- to the certificates recorded for it.

-- One row per enrolment: rule is new, conflict, certificates_revoked,
-- silent, admin_allowed, key_proof, or merged (an admin's merge).
CREATE TABLE enrolments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id      TEXT NOT NULL REFERENCES devices (id),
    at             TEXT NOT NULL,
    secret_id      TEXT NOT NULL DEFAULT '',
    secret_label   TEXT NOT NULL DEFAULT '',
    rule           TEXT NOT NULL,
    -- which identity field matched (system_serial, system_uuid, macs) and
    -- the device it matched, '' for none
    matched_by     TEXT NOT NULL DEFAULT '',
    matched_device TEXT NOT NULL DEFAULT '',
    cert_serial    TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX enrolments_device ON enrolments (device_id, id);

-- An enrolment that matched a live device: device_id is the new record,
-- other_id the live one. The pair keeps both flagged identity_conflict
-- until an admin merges them or revokes one.
CREATE TABLE identity_conflicts (
    device_id  TEXT NOT NULL REFERENCES devices (id),
    other_id   TEXT NOT NULL REFERENCES devices (id),
    matched_by TEXT NOT NULL DEFAULT '',
    since      TEXT NOT NULL,
    PRIMARY KEY (device_id, other_id)
);
CREATE INDEX identity_conflicts_other ON identity_conflicts (other_id);

-- A reinstall an admin pre-authorised: the next enrolment matching the
-- device before until continues it (and uses the allowance up).
CREATE TABLE reenroll_allowances (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id),
    until      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);

-- A device an admin merged into another stays as a revoked record naming
-- the one that continues it.
ALTER TABLE devices ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';

-- The signed command's current issue and expiry (capped lifetime; a later
-- delivery past the expiry signs it again), and the continuity rule of the
-- re-enrolment a verification rests on.
ALTER TABLE wipe_requests ADD COLUMN command_issued_at TEXT;
ALTER TABLE wipe_requests ADD COLUMN command_expires_at TEXT;
ALTER TABLE wipe_requests ADD COLUMN reenrol_rule TEXT NOT NULL DEFAULT '';
ALTER TABLE wipe_requests ADD COLUMN verification_basis TEXT NOT NULL DEFAULT '';

-- The certificates a wipe command may go to: those live when it was
-- issued, and those issued to the device since by renewal or a safe
-- continuity (how). delivered_at is when the command first went to it; a
-- status from a certificate it never went to is refused.
CREATE TABLE wipe_command_certs (
    wipe_id      TEXT NOT NULL REFERENCES wipe_requests (id),
    serial       TEXT NOT NULL,
    how          TEXT NOT NULL,
    added_at     TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (wipe_id, serial)
);
CREATE INDEX wipe_command_certs_serial ON wipe_command_certs (serial);
