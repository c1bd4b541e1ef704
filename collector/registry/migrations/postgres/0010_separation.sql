-- PostgreSQL edition of ../sqlite/0010_separation.sql (same version, same tables).
-- Separation of duties (issue 11). An exception is requested by one
-- principal and approved or denied by another; the approver is the
-- authenticated principal, no longer typed text. A manual wipe record is
-- checked against the principal who started the offboarding, so that one
-- is kept by id.

-- state: pending, approved, denied or revoked (expired is computed from
-- expires_at). Exceptions made before this migration were approved by the
-- typed approver they carry and stay in force; their approver_id stays ''
-- so they can be told apart.
ALTER TABLE exceptions ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE exceptions ADD COLUMN requested_by_id TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN approver_id TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN denied_by TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN denied_by_id TEXT NOT NULL DEFAULT '';
-- when the exception was approved or denied, and the decider's note
ALTER TABLE exceptions ADD COLUMN decided_at TEXT;
ALTER TABLE exceptions ADD COLUMN decision_note TEXT NOT NULL DEFAULT '';

UPDATE exceptions SET
    state = CASE WHEN revoked_at IS NULL THEN 'approved' ELSE 'revoked' END,
    decided_at = created_at,
    requested_by_id = coalesce((SELECT p.id FROM principals p WHERE p.name = exceptions.created_by), '');
CREATE INDEX exceptions_state ON exceptions (state, expires_at);

-- The principal who started the offboarding. Older requests name it by the
-- token their first transition recorded, which 0008 gave a principal.
ALTER TABLE wipe_requests ADD COLUMN created_by_id TEXT NOT NULL DEFAULT '';
UPDATE wipe_requests SET created_by_id = coalesce((
    SELECT coalesce(nullif(t.principal_id, ''), tr.actor_id)
    FROM wipe_transitions tr LEFT JOIN api_tokens t ON t.id = tr.actor_id
    WHERE tr.wipe_id = wipe_requests.id AND tr.from_state = '' AND tr.actor_kind = 'token'
    ORDER BY tr.id LIMIT 1), '');
-- Which separation-of-duties rules a manual record was let through under
-- offboarding.allow_single_person ('' when two people did it); the
-- certificate of sanitisation repeats it.
ALTER TABLE wipe_requests ADD COLUMN single_person TEXT NOT NULL DEFAULT '';
