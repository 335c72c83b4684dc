-- Pending outbox entries that name their own target. Without a default
-- webhook URL only these can be delivered, and the worker must find them
-- without reading every pending entry that waits for a URL (one read per
-- lead made each lead cost as much as all the leads before it).
CREATE INDEX service_event_outbox_targeted_idx ON service_event_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND target_url IS NOT NULL;
