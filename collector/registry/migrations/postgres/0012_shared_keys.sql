-- PostgreSQL edition of ../sqlite/0012_shared_keys.sql (same version, same tables).
-- Shared keys (issue 12): the CA and command-signing key every collector
-- of one store signs with, sealed with age to the identity in the
-- collectors' key file (store.key_file; collector/pki/shared.go). One row:
-- the first collector to start on the store publishes its keys, the
-- others unseal them into their own pki/. ca_fingerprint is in clear so a
-- collector whose pki/ holds another CA is told which.
CREATE TABLE shared_keys (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    ca_fingerprint TEXT NOT NULL,
    sealed         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);
