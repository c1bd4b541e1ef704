-- Retention (issue 16): the purge job (registry/purge.go) removes what is
-- past retention in small batches, each walking an index from the oldest
-- row, and marks the devices whose snapshot it removed.

-- When retention removed a retired device's snapshot, facts and software.
-- While no snapshot is stored again, pages and the API say the facts were
-- purged rather than showing nothing as if nothing had been measured (a
-- report after it stores a snapshot and the mark no longer applies).
ALTER TABLE devices ADD COLUMN snapshot_purged_at TEXT;

-- report bookkeeping is purged oldest first, keeping each device's newest
CREATE INDEX reports_applied_applied_at ON reports_applied (applied_at);
-- ended and expired console sessions
CREATE INDEX sessions_expires_at ON sessions (expires_at);
