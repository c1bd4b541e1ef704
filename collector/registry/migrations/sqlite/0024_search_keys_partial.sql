-- Compact storage (issue 17): a search_keys row names a device (asset_id
-- '') or an asset (device_id ''), so each of the two "whose keys"
-- indexes held an entry for every row of the other kind, all under '',
-- that no query reads: the asset index one per device key (about 290
-- bytes per device), the device index one per asset key. Each now holds
-- only the rows it is for. The queries that read them say so
-- (search.go, purge.go: "asset_id <> ''"), which is how SQLite knows a
-- partial index serves them.
DROP INDEX search_keys_device;
CREATE INDEX search_keys_device ON search_keys (device_id, kind, key) WHERE device_id <> '';
DROP INDEX search_keys_asset;
CREATE INDEX search_keys_asset ON search_keys (asset_id, kind, key) WHERE asset_id <> '';
