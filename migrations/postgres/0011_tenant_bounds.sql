-- Feed consumers belong to a scope: the campaign whose records they read, or
-- every campaign (scope 0, campaign ids start at 1). A name is unique within
-- its scope, so a campaign's key cannot move (or create) another scope's
-- consumer. read_at is when the consumer was last followed or acknowledged:
-- one idle for OVASABI_FEED_CONSUMER_IDLE_DAYS no longer holds retention back.
-- Consumers made before scopes existed were made by unscoped callers' feeds:
-- they become consumers of every campaign.
CREATE TABLE service_feed_consumer_scoped (
    scope       BIGINT      NOT NULL,
    name        TEXT        NOT NULL,
    position    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    read_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, name)
);
INSERT INTO service_feed_consumer_scoped (scope, name, position, updated_at, read_at)
    SELECT 0, name, position, updated_at, updated_at FROM service_feed_consumer;
DROP TABLE service_feed_consumer;
ALTER TABLE service_feed_consumer_scoped RENAME TO service_feed_consumer;

-- Sessions an erasure ended (a user's master_id, the visitor sessions its
-- joins and leads came from): their tokens are refused until they would
-- have expired, on every instance. Kept by id only.
CREATE TABLE service_session_revoked (
    session_id  UUID        PRIMARY KEY,
    revoked_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX service_session_revoked_at_idx ON service_session_revoked (revoked_at);
