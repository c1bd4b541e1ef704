-- Compact storage (issue 17): a device's history is read by device in the
-- order it was recorded (History with a device, RecentChanges: device_id
-- = $1 ORDER BY id), never by device and time together. history_device_at
-- kept each entry's time text beside its device id for no query; (device_id,
-- id) gives a device's entries in id order (no sort) with an 8-byte id
-- instead of the 30-byte time. History's time filters still use
-- history_at, as does retention.
DROP INDEX history_device_at;
CREATE INDEX history_device ON history (device_id, id);
