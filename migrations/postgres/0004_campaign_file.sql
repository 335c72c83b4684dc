-- Which version of each campaign file was last applied (SHA-256 of the file):
-- a start applies a file only when it changed, so that a deploy does not undo
-- what an admin changed through the API (a paused campaign stays paused).
CREATE TABLE service_campaign_file (
    slug        TEXT        PRIMARY KEY,
    hash        TEXT        NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
);
