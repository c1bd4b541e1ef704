-- Web console reads (issue 14): the helpdesk's one search box and the
-- fleet overview's 30-day compliance trend.

-- Every value the search box finds a device or an asset by, normalised in
-- Go (registry/search.go: cleaned and lower-cased with Unicode rules, MACs
-- as 12 bare hex digits) so that both engines compare bytes and a prefix
-- is an index range (key >= q AND key < q || U+10FFFF), whatever the
-- engine's LIKE or collation would do. A row names its device
-- (device_id, asset_id '') or its asset (asset_id, device_id ''); an
-- asset's rows reach its device through asset_links at query time, so
-- linking and unlinking never rewrite them. The rows of a device are
-- rewritten in the transaction that writes its identity (enrolment,
-- report), those of an asset in the one that writes the asset. kind is
-- device_id, serial, asset_tag, mac, hostname, owner_email or owner_name.
-- Existing devices and assets are indexed by Migrate right after this
-- file (Go lower-cases non-ASCII letters, SQL's lower() would not here).
CREATE TABLE search_keys (
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    asset_id  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, kind, device_id, asset_id)
) WITHOUT ROWID;
-- id lookups, MAC ranges and the substring scan of hostnames and owner
-- names read this one (covering: the primary key rides along).
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
    pass        INTEGER NOT NULL DEFAULT 0,
    fail        INTEGER NOT NULL DEFAULT 0,
    in_grace    INTEGER NOT NULL DEFAULT 0,
    exempt      INTEGER NOT NULL DEFAULT 0,
    unknown     INTEGER NOT NULL DEFAULT 0,
    stale       INTEGER NOT NULL DEFAULT 0,
    devices     INTEGER NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (day, policy)
);
