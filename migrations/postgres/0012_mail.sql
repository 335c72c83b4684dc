-- Mail. A mail is an outbox entry of its own kind ('mail'), addressed to
-- 'mailto:<address>': never posted to webhooks nor numbered in the feed
-- (which takes only entries without a target of their own).
ALTER TABLE service_event_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook'
    CHECK (kind IN ('webhook', 'mail'));
-- The webhook worker's indexes hold webhooks only: mails waiting for an
-- SMTP server must not be read by every webhook pass (see 0003).
DROP INDEX service_event_outbox_pending_idx;
CREATE INDEX service_event_outbox_pending_idx ON service_event_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND kind = 'webhook';
DROP INDEX service_event_outbox_targeted_idx;
CREATE INDEX service_event_outbox_targeted_idx ON service_event_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND target_url IS NOT NULL
      AND kind = 'webhook';
CREATE INDEX service_event_outbox_mail_idx ON service_event_outbox (next_attempt_at)
    WHERE kind = 'mail' AND delivered_at IS NULL AND dead_at IS NULL;
-- The mails answering a join an address was sent lately: the verification
-- mail's limits (a lead's mails, the many, are not in it).
CREATE INDEX service_event_outbox_recipient_idx ON service_event_outbox (target_url, created_at)
    WHERE kind = 'mail' AND event_type IN ('mail.verify', 'mail.already_in');

-- Addresses whose server refused mail for good (a 5xx at RCPT or DATA):
-- no more mail is sent to them for that campaign.
CREATE TABLE service_mail_suppression (
    campaign_id  BIGINT NOT NULL REFERENCES service_campaign_main (id),
    email        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, email)
);

-- A join counts once its email is verified (joins made before verification
-- existed count as verified when they were made). Marketing mail stops when
-- its consent is withdrawn (one-click unsubscribe).
ALTER TABLE service_user_master ADD COLUMN verified_at TIMESTAMPTZ;
UPDATE service_user_master SET verified_at = created_at;
ALTER TABLE service_user_master ADD COLUMN unsubscribed_at TIMESTAMPTZ;
CREATE INDEX service_user_master_pending_idx ON service_user_master (campaign_id, created_at)
    WHERE verified_at IS NULL;
