-- The session that submitted a quote (a user's master_id or an anonymous visitor
-- id), so its status changes reach that session only; and a fingerprint of the
-- request an idempotency key was first used with, to refuse its reuse for another.
ALTER TABLE service_quote_main ADD COLUMN session_id UUID;
ALTER TABLE service_quote_main ADD COLUMN request_fingerprint TEXT;
CREATE INDEX service_event_outbox_state_idx ON service_event_outbox (campaign_id, id);
