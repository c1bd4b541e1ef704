-- Restores (issue 16): every time `roster-collector restore` installed a
-- backup into this database. The newest one opens a window in which a
-- client certificate this collector's CA issued after the backup was taken
-- (so the backup cannot know it: an agent enrolled or renewed since) is
-- adopted on its first request instead of refused (registry/restore.go).
CREATE TABLE restores (
    id                INTEGER PRIMARY KEY,
    -- when the backup's database copy was taken (its manifest's created_at)
    backup_created_at TEXT NOT NULL,
    restored_at       TEXT NOT NULL,
    -- the backup file's name, for the audit trail
    file              TEXT NOT NULL DEFAULT '',
    restored_by       TEXT NOT NULL DEFAULT ''
);
