-- Referral fraud review. Each join keeps what its referrals are checked
-- against: a keyed hash of its network (IPv4 /24, IPv6 /64) and of its
-- device (rate-limit key and User-Agent) — never the address — and its
-- email as it normalises (Gmail dots and +tags, case). Joins made before
-- this kept none of that; their email is its own key.
ALTER TABLE service_user_master ADD COLUMN network_hash TEXT;
ALTER TABLE service_user_master ADD COLUMN device_hash TEXT;
ALTER TABLE service_user_master ADD COLUMN email_key TEXT;
UPDATE service_user_master SET email_key = email;
CREATE INDEX service_user_master_email_key_idx ON service_user_master (campaign_id, email_key);

-- A referral is counted (every public figure counts these only), flagged
-- (held for the team's review: counted once approved) or rejected (final).
-- `signals` names why it was flagged. Referrals made before this count.
ALTER TABLE service_referral_main ADD COLUMN status TEXT NOT NULL DEFAULT 'counted'
    CHECK (status IN ('counted', 'flagged', 'rejected'));
ALTER TABLE service_referral_main ADD COLUMN signals TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_referral_main ADD COLUMN reviewed_at TEXT;
ALTER TABLE service_referral_main ADD COLUMN reviewed_by TEXT;
CREATE INDEX service_referral_main_status_idx
    ON service_referral_main (campaign_id, status, created_at, id);
-- A referrer's counted referrals (what every count reads) and their last
-- hour (the `too_many` signal), each from an index of its own: with only
-- (campaign_id, referrer_id), SQLite's planner takes the status index above
-- or the campaign's by time, and each join would read the whole campaign.
DROP INDEX service_referral_main_referrer_idx;
CREATE INDEX service_referral_main_referrer_idx
    ON service_referral_main (campaign_id, referrer_id, status);
CREATE INDEX service_referral_main_referrer_created_idx
    ON service_referral_main (campaign_id, referrer_id, created_at);
-- What counts, defined once: every figure (leaderboard, milestones,
-- counts in /api/me, metrics, reports) reads this.
CREATE VIEW service_referral_counted AS
    SELECT * FROM service_referral_main WHERE status = 'counted';

-- How a session's pointer moved, as one score in [0, 1] (see
-- server/src/cursor/humanity.rs): never the path. Keyed by the session's
-- subject (a visitor session's id, or a user's id); kept for
-- OVASABI_HUMANITY_RETENTION_DAYS and erased with the person.
CREATE TABLE service_humanity (
    subject      BLOB    PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES service_campaign_main (id),
    score        REAL    NOT NULL,
    samples      INTEGER NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX service_humanity_updated_idx ON service_humanity (updated_at);
