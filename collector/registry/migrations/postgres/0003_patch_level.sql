-- PostgreSQL edition of ../sqlite/0003_patch_level.sql (same version, same tables).
-- Patch level on the device row, so the helpdesk (devices show) and
-- fleet queries see how current a machine is without reading snapshots.
-- Counts are NULL when the agent could not tell (unknown is not zero).
ALTER TABLE devices ADD COLUMN os_build TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN last_update_at TEXT;
ALTER TABLE devices ADD COLUMN pending_updates BIGINT;
ALTER TABLE devices ADD COLUMN pending_security_updates BIGINT;
ALTER TABLE devices ADD COLUMN reboot_required TEXT NOT NULL DEFAULT 'unknown';
