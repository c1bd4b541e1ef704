-- Events (issue 5): drift and compliance changes, stored for queries and
-- fanned out into a durable webhook outbox in the same transaction that
-- creates them, so an event is never stored without its deliveries nor
-- delivered without being stored.

-- n orders events (and pages them); id is the UUID receivers see.
CREATE TABLE events (
    n         INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    asset_tag TEXT NOT NULL DEFAULT '',
    subject   TEXT NOT NULL DEFAULT '',
    -- JSON object
    data      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_device ON events (device_id, n);

-- One row per event and matching endpoint. Endpoints (URL, secret) live in
-- the configuration, not here. claimed_by/claimed_until let several
-- collector processes share the outbox: Due hands a delivery only to the
-- process that holds its claim, or to anyone once the claim has lapsed.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL,
    event_n         INTEGER NOT NULL REFERENCES events (n),
    -- pending, delivered or given_up
    state           TEXT NOT NULL DEFAULT 'pending',
    attempt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TEXT,
    claimed_by      TEXT NOT NULL DEFAULT '',
    claimed_until   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_n);

-- Small counters of the events engine, e.g. how far register_history has
-- been turned into events.
CREATE TABLE event_cursors (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
