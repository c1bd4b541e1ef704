-- Agent health for the web console (issue 14): what the last heartbeat
-- said about the agent's spool and which protocol it came over. NULL until
-- the first heartbeat after this migration.
ALTER TABLE devices ADD COLUMN agent_spool_depth INTEGER;
ALTER TABLE devices ADD COLUMN agent_transport TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN agent_heartbeat_at TEXT;
