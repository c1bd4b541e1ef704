-- Roster registry, first schema. Times are UTC RFC 3339 text with a fixed
-- nine-digit fraction so that text order is time order. Identity columns hold
-- normalised values (shared/identity); '' means absent.

CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    hostname         TEXT NOT NULL DEFAULT '',
    platform         TEXT NOT NULL DEFAULT '',
    system_serial    TEXT NOT NULL DEFAULT '',
    system_uuid      TEXT NOT NULL DEFAULT '',
    board_serial     TEXT NOT NULL DEFAULT '',
    -- sorted normalised MACs joined by ','
    macs             TEXT NOT NULL DEFAULT '',
    vendor           TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL DEFAULT '',
    os_name          TEXT NOT NULL DEFAULT '',
    os_version       TEXT NOT NULL DEFAULT '',
    kernel           TEXT NOT NULL DEFAULT '',
    system_encrypted TEXT NOT NULL DEFAULT 'unknown',
    agent_version    TEXT NOT NULL DEFAULT '',
    -- active, revoked or identity_conflict
    state            TEXT NOT NULL DEFAULT 'active',
    -- flags joined by ','
    flags            TEXT NOT NULL DEFAULT '',
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    enrolled_at      TEXT NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_hash        TEXT NOT NULL DEFAULT '',
    software_count   INTEGER NOT NULL DEFAULT 0,
    -- canonical JSON of the latest full snapshot
    snapshot         TEXT
);
CREATE INDEX devices_system_serial ON devices (system_serial);
CREATE INDEX devices_system_uuid ON devices (system_uuid);
CREATE INDEX devices_macs ON devices (macs);
CREATE INDEX devices_hostname ON devices (hostname);
CREATE INDEX devices_last_seen ON devices (last_seen);

CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    issued_at  TEXT NOT NULL,
    not_after  TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX certificates_device ON certificates (device_id);

CREATE TABLE enrol_secrets (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL DEFAULT '',
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    max_uses   INTEGER NOT NULL DEFAULT 0,
    uses       INTEGER NOT NULL DEFAULT 0,
    revoked_at TEXT
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE software (
    id           INTEGER PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices (id),
    source       TEXT NOT NULL,
    name         TEXT NOT NULL,
    arch         TEXT NOT NULL DEFAULT '',
    version      TEXT NOT NULL DEFAULT '',
    publisher    TEXT NOT NULL DEFAULT '',
    install_date TEXT,
    location     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX software_device ON software (device_id, source, name, arch, version);
-- "who has X version Y"
CREATE INDEX software_name_version ON software (name, version);

CREATE TABLE history (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices (id),
    at        TEXT NOT NULL,
    seq       INTEGER NOT NULL DEFAULT 0,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL DEFAULT '',
    old       TEXT NOT NULL DEFAULT '',
    new       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX history_device_at ON history (device_id, at);
CREATE INDEX history_at ON history (at);

CREATE TABLE reports_applied (
    device_id  TEXT NOT NULL REFERENCES devices (id),
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
