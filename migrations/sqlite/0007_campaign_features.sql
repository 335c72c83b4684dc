-- Campaign features (issue 17). Same tables and columns as migrations/postgres.
--
-- A visitor session's first touch, recorded when the session is made: the
-- UTM parameters, referrer and landing page of the page view that made it.
-- Joins and leads made with the session name it (visitor_id), so attribution
-- follows them into the funnel and the exports. `source` is what the funnel
-- groups by: utm_source, else the referrer's host, else (direct).
CREATE TABLE service_visitor_session (
    session_id    BLOB    PRIMARY KEY,
    campaign_id   INTEGER NOT NULL REFERENCES service_campaign_main (id),
    source        TEXT    NOT NULL,
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    utm_term      TEXT,
    utm_content   TEXT,
    referrer      TEXT,
    landing_page  TEXT,
    created_at    TEXT    NOT NULL
);
CREATE INDEX service_visitor_session_campaign_idx ON service_visitor_session (campaign_id, created_at);

-- The visitor session a user joined from, and the consent they gave (the
-- version of the text and when); the same for a lead.
ALTER TABLE service_user_master ADD COLUMN visitor_id BLOB;
ALTER TABLE service_user_master ADD COLUMN consent_version TEXT;
ALTER TABLE service_user_master ADD COLUMN consent_at TEXT;
ALTER TABLE service_quote_main ADD COLUMN visitor_id BLOB;
ALTER TABLE service_quote_main ADD COLUMN consent_version TEXT;
ALTER TABLE service_quote_main ADD COLUMN consent_at TEXT;

-- Participants are listed by join time (keyset pages), leads likewise.
CREATE INDEX service_user_master_campaign_created_idx
    ON service_user_master (campaign_id, created_at, master_id);
CREATE INDEX service_quote_main_campaign_created_idx
    ON service_quote_main (campaign_id, created_at, id);
-- A session's own leads (`GET /api/me`).
CREATE INDEX service_quote_main_session_idx ON service_quote_main (session_id, created_at);
CREATE INDEX service_referral_main_campaign_created_idx
    ON service_referral_main (campaign_id, created_at, id);

-- What was last announced of a campaign's derived live state (its
-- leaderboard, whether it is open): an instance publishes a change only when
-- it swaps the stored value, so each change is announced once per cluster.
CREATE TABLE service_campaign_live_state (
    campaign_id  INTEGER NOT NULL REFERENCES service_campaign_main (id),
    kind         TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (campaign_id, kind)
);
