-- Trust (issue 11): principals own tokens and carry the role; tokens expire
-- and record their last use; the append-only audit log with its hash chain
-- and signed checkpoints.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- person or automation
    kind        TEXT NOT NULL,
    email       TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    disabled_at TEXT
);

-- Every token made before principals existed becomes its name's principal
-- (the newest token's role wins); those tokens expire 90 days from now
-- instead of never.
INSERT INTO principals (id, name, kind, role, created_at, created_by)
SELECT 'p-' || t.id, t.name, 'person', t.role, t.created_at, 'migration'
FROM api_tokens t
WHERE t.created_at = (SELECT max(created_at) FROM api_tokens u WHERE u.name = t.name)
GROUP BY t.name;

ALTER TABLE api_tokens ADD COLUMN principal_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_from TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN revoked_by TEXT NOT NULL DEFAULT '';
-- the token this one replaced (rotate)
ALTER TABLE api_tokens ADD COLUMN rotated_from TEXT NOT NULL DEFAULT '';

UPDATE api_tokens SET
    principal_id = (SELECT p.id FROM principals p WHERE p.name = api_tokens.name),
    expires_at = strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', '+90 days'),
    created_by = 'migration';
CREATE INDEX api_tokens_principal ON api_tokens (principal_id);

-- The audit log: append-only, one row per change or denied request, each
-- row's hash covering the previous row's (collector/audit).
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    principal_id   TEXT NOT NULL DEFAULT '',
    principal_name TEXT NOT NULL DEFAULT '',
    principal_kind TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL DEFAULT '',
    source         TEXT NOT NULL DEFAULT '',
    request_id     TEXT NOT NULL DEFAULT '',
    action         TEXT NOT NULL,
    target         TEXT NOT NULL DEFAULT '',
    outcome        TEXT NOT NULL,
    detail         TEXT NOT NULL DEFAULT '',
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_principal ON audit_log (principal_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);

-- Signed statements of the chain's head, made at intervals.
CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);
