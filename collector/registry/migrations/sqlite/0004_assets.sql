-- The asset register (issue 5): what the organisation says it owns, kept
-- apart from what agents report and never deleted because an agent went
-- quiet; the device ↔ asset links; the flags with their first-seen time;
-- and the register's own history (who changed an asset, when a flag was
-- set or cleared), which the events engine reads.

CREATE TABLE assets (
    id              TEXT PRIMARY KEY,
    asset_tag       TEXT NOT NULL,
    -- upper-cased asset_tag: tags are unique whatever their case
    tag_key         TEXT NOT NULL UNIQUE,
    -- the serial as the register writes it, and the keys linking matches
    -- on: identity.Serial, identity.UUID and identity.MAC of it ('' when
    -- it is not one)
    serial_raw      TEXT NOT NULL DEFAULT '',
    serial          TEXT NOT NULL DEFAULT '',
    serial_uuid     TEXT NOT NULL DEFAULT '',
    serial_mac      TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    owner_email     TEXT NOT NULL DEFAULT '',
    classification  TEXT NOT NULL DEFAULT '',
    location        TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    purchase_date   TEXT NOT NULL DEFAULT '',
    fixed_asset_ref TEXT NOT NULL DEFAULT '',
    notes           TEXT NOT NULL DEFAULT '',
    -- JSON array of strings
    tags            TEXT NOT NULL DEFAULT '[]',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX assets_serial ON assets (serial);
CREATE INDEX assets_serial_uuid ON assets (serial_uuid);
CREATE INDEX assets_serial_mac ON assets (serial_mac);

-- One device per asset and one asset per device. how is system_serial,
-- system_uuid, mac (automatic) or manual; automatic matching never moves
-- or removes a manual link.
CREATE TABLE asset_links (
    asset_id  TEXT PRIMARY KEY REFERENCES assets (id),
    device_id TEXT NOT NULL UNIQUE REFERENCES devices (id),
    how       TEXT NOT NULL,
    linked_at TEXT NOT NULL
);

-- Flags on a device (unregistered, not_in_service, identity_conflict) or
-- an asset (missing). since is when the flag was first set; a row is
-- deleted when its cause goes away.
CREATE TABLE flags (
    subject    TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    flag       TEXT NOT NULL,
    since      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (subject, subject_id, flag)
);
CREATE INDEX flags_flag ON flags (flag, subject);

-- asset_id and device_id are '' when the entry is not about one (an
-- unregistered device has no asset).
CREATE TABLE register_history (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    asset_id   TEXT NOT NULL DEFAULT '',
    asset_tag  TEXT NOT NULL DEFAULT '',
    device_id  TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    old        TEXT NOT NULL DEFAULT '',
    new        TEXT NOT NULL DEFAULT '',
    actor_id   TEXT NOT NULL DEFAULT '',
    actor_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX register_history_asset ON register_history (asset_id, id);
CREATE INDEX register_history_device ON register_history (device_id, id);
CREATE INDEX register_history_at ON register_history (at);
