-- Bot defence. A form submission the honeypot or the minimum time caught
-- is held here instead of being written: no user, lead, outbox entry,
-- event, mail or count until the team releases it ("not spam"), which
-- replays it as if it had just arrived. A submission let through unverified
-- while the CAPTCHA provider was down is listed here too ('passed'), beside
-- what it wrote. Kept for OVASABI_SPAM_RETENTION_DAYS; erased with the
-- person its email names.
CREATE TABLE service_spam (
    id           BLOB    PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES service_campaign_main (id),
    form         TEXT    NOT NULL CHECK (form IN ('join', 'lead')),
    reason       TEXT    NOT NULL CHECK (reason IN ('honeypot', 'too_fast', 'captcha_unavailable')),
    state        TEXT    NOT NULL CHECK (state IN ('held', 'released', 'passed')),
    email        TEXT    NOT NULL,
    submission   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    released_at  TEXT,
    released_by  TEXT
);
CREATE INDEX service_spam_campaign_idx ON service_spam (campaign_id, created_at);
CREATE INDEX service_spam_email_idx ON service_spam (email);
CREATE INDEX service_spam_created_idx ON service_spam (created_at);
