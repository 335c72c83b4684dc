-- Every erasure of a person's data (admin request), recorded without the
-- person: a SHA-256 of what named them, and how many rows were scrubbed.
CREATE TABLE service_erasure_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_hash  TEXT        NOT NULL,
    users         BIGINT      NOT NULL,
    quotes        BIGINT      NOT NULL,
    outbox        BIGINT      NOT NULL,
    erased_at     TIMESTAMPTZ NOT NULL
);
