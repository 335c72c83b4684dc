-- The back-office feed (gRPC `Leads.Follow`): the outbox records of the
-- default receiver (one per event), numbered in commit order. Ids are handed
-- out before commit, so a row can commit after a higher id was read; a
-- position is given only to rows already committed, under one lock, so a
-- reader that saw position p never misses a row numbered ≤ p later.
ALTER TABLE service_event_outbox ADD COLUMN feed_position BIGINT;
CREATE UNIQUE INDEX service_event_outbox_feed_idx ON service_event_outbox (feed_position)
    WHERE feed_position IS NOT NULL;
CREATE INDEX service_event_outbox_unfed_idx ON service_event_outbox (id)
    WHERE feed_position IS NULL AND target_url IS NULL;

-- The last position given, and the last one retention removed (a reader
-- asking for an older one is told, never skipped ahead silently).
CREATE TABLE service_feed_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    last_position   BIGINT  NOT NULL,
    pruned_through  BIGINT  NOT NULL
);
INSERT INTO service_feed_state (id, last_position, pruned_through) VALUES (1, 0, 0);

-- Named consumers and the position each acknowledged: retention keeps what
-- the slowest has not.
CREATE TABLE service_feed_consumer (
    name        TEXT    PRIMARY KEY,
    position    BIGINT  NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
