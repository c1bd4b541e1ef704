-- PostgreSQL edition of ../sqlite/0011_leases.sql (same version, same tables).
-- Leases (issue 12): a periodic job (flags refresh, fleet evaluation,
-- wipe expiry, audit checkpoints) runs on the one collector instance that
-- holds its lease, so several instances sharing a database run each job
-- once. A lease is taken, renewed and handed over by one INSERT … ON
-- CONFLICT DO UPDATE … WHERE statement (lease.go); expires_at is the
-- fixed-width UTC text every other time in the store uses, so it sorts
-- and compares as time on both engines.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
