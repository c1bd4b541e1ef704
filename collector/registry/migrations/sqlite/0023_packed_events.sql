-- Compact storage (issue 17): an event's payload packed (zstd, as
-- snapshots are; events.go: storedEventData) when that is smaller, data
-- then empty. A compliance.changed payload of six policies, ~800 bytes,
-- packs to ~350; small payloads (a software event's ~75 bytes) stay text.
-- The API and webhook bodies carry the same bytes either way. Rows stored
-- before keep their text (packed NULL).
ALTER TABLE events ADD COLUMN packed BLOB;
