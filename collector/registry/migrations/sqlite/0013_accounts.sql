-- Accounts (issue 14): people sign in to the web console with a local
-- password (argon2id, collector/password) and an optional TOTP second
-- factor, or through OIDC single sign-on as a principal created just in
-- time and bound to its issuer and subject; either way they get a
-- server-side session.

-- The PHC string of the password's argon2id hash; '' when the principal
-- has none (tokens only, or single sign-on).
ALTER TABLE principals ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
-- The TOTP secret (base32) and the last time step a code was accepted
-- for, so no code is accepted twice; '' when TOTP is off.
ALTER TABLE principals ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
-- Consecutive failed sign-ins and, from the fifth, the lockout's end.
ALTER TABLE principals ADD COLUMN failed_signins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE principals ADD COLUMN locked_until TEXT;
ALTER TABLE principals ADD COLUMN last_signin_at TEXT;
-- Single sign-on: the OIDC issuer and subject the principal is bound to;
-- both '' for a local principal.
ALTER TABLE principals ADD COLUMN sso_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN sso_subject TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX principals_sso ON principals (sso_issuer, sso_subject) WHERE sso_issuer <> '';

-- Web console sessions. The cookie holds a random secret; only its
-- SHA-256 is stored, so a copy of the database signs nobody in. Times
-- are text as everywhere in the registry.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    -- the form token of the session (not a credential on its own)
    csrf         TEXT NOT NULL,
    -- password, password+totp, oidc
    method       TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    -- the absolute end; the idle timeout counts from last_seen_at
    expires_at   TEXT NOT NULL,
    idle_seconds INTEGER NOT NULL,
    ended_at     TEXT,
    ended_by     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_principal ON sessions (principal_id, ended_at);
