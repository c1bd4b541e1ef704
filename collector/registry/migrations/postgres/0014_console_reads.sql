-- PostgreSQL edition of ../sqlite/0014_console_reads.sql (same version, same tables).
-- Web console reads (issue 14): the helpdesk's one search box and the
-- fleet overview's 30-day compliance trend.

-- Every value the search box finds a device or an asset by, normalised in
-- Go (registry/search.go). key is COLLATE "C" so that comparisons are byte
-- order as on SQLite and a prefix is an index range whatever the
-- database's locale. See the SQLite edition for the rest.
CREATE TABLE search_keys (
    key       TEXT COLLATE "C" NOT NULL,
    kind      TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    asset_id  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, kind, device_id, asset_id)
);
CREATE INDEX search_keys_kind ON search_keys (kind, key);
-- a device's or an asset's keys: rewriting them, and testing whether a
-- device matches while walking the fleet by last check-in
CREATE INDEX search_keys_device ON search_keys (device_id, kind, key);
CREATE INDEX search_keys_asset ON search_keys (asset_id, kind, key);

-- One row per UTC day and policy ('' for the fleet, a device counting as
-- its worst result) of evaluated, unrevoked devices by status, written
-- after every fleet evaluation (the last one of the day wins). devices
-- also counts those the policy does not apply to.
CREATE TABLE compliance_days (
    day         TEXT NOT NULL,
    policy      TEXT NOT NULL,
    pass        BIGINT NOT NULL DEFAULT 0,
    fail        BIGINT NOT NULL DEFAULT 0,
    in_grace    BIGINT NOT NULL DEFAULT 0,
    exempt      BIGINT NOT NULL DEFAULT 0,
    unknown     BIGINT NOT NULL DEFAULT 0,
    stale       BIGINT NOT NULL DEFAULT 0,
    devices     BIGINT NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (day, policy)
);
