-- The campaign team's named API keys: a role (viewer, editor, owner) and an
-- optional campaign scope each. Only the SHA-256 of a key is kept; the key
-- itself is shown once, when it is made. Keys are revoked, never deleted,
-- so the audit log can always say whose key made a change.
CREATE TABLE service_api_key (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT        NOT NULL,
    role         TEXT        NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
    campaign_id  INTEGER     REFERENCES service_campaign_main (id),
    token_hash   TEXT        NOT NULL UNIQUE,
    hint         TEXT        NOT NULL,
    created_by   TEXT        NOT NULL,
    created_at   TEXT        NOT NULL,
    revoked_at   TEXT
);
-- Two live keys never share a name (a revoked key's name may be reused).
CREATE UNIQUE INDEX service_api_key_live_name_idx ON service_api_key (name)
    WHERE revoked_at IS NULL;

-- Every change the team made through the API: who, what, when, and what it
-- was before and after. Entries name no visitor (an erasure is logged as
-- counts only).
CREATE TABLE service_audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT        NOT NULL,
    actor         TEXT        NOT NULL,
    actor_key_id  INTEGER     REFERENCES service_api_key (id),
    action        TEXT        NOT NULL,
    campaign_id   INTEGER     REFERENCES service_campaign_main (id),
    target        TEXT        NOT NULL,
    before        TEXT,
    after         TEXT
);
CREATE INDEX service_audit_log_campaign_idx ON service_audit_log (campaign_id, id);
