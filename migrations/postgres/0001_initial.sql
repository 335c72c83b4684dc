-- Ovasabi Edge schema, PostgreSQL flavour. Same tables and columns as migrations/sqlite.

CREATE TABLE service_campaign_main (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'active', 'paused', 'ended')),
    starts_at   TIMESTAMPTZ,
    ends_at     TIMESTAMPTZ,
    config      JSONB       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_campaign_main_slug_key UNIQUE (slug)
);

CREATE TABLE service_user_master (
    master_id      UUID        PRIMARY KEY,
    campaign_id    BIGINT      NOT NULL REFERENCES service_campaign_main (id),
    email          TEXT        NOT NULL,
    display_name   TEXT        NOT NULL,
    locale         TEXT,
    referral_code  TEXT        NOT NULL,
    referred_by    UUID        REFERENCES service_user_master (master_id),
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_user_master_campaign_email_key UNIQUE (campaign_id, email),
    CONSTRAINT service_user_master_referral_code_key UNIQUE (referral_code)
);

CREATE TABLE service_quote_main (
    id               UUID        PRIMARY KEY,
    campaign_id      BIGINT      NOT NULL REFERENCES service_campaign_main (id),
    master_id        UUID        REFERENCES service_user_master (master_id),
    name             TEXT        NOT NULL,
    email            TEXT        NOT NULL,
    company          TEXT,
    phone            TEXT,
    message          TEXT        NOT NULL,
    budget           TEXT,
    details          JSONB       NOT NULL DEFAULT '{}',
    status           TEXT        NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'in_review', 'contacted', 'won', 'lost')),
    idempotency_key  TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_quote_main_idempotency_key UNIQUE (campaign_id, idempotency_key)
);
CREATE INDEX service_quote_main_campaign_status_idx ON service_quote_main (campaign_id, status, created_at);

CREATE TABLE service_referral_main (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  BIGINT      NOT NULL REFERENCES service_campaign_main (id),
    referrer_id  UUID        NOT NULL REFERENCES service_user_master (master_id),
    referred_id  UUID        NOT NULL REFERENCES service_user_master (master_id),
    code         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_referral_main_referred_key UNIQUE (campaign_id, referred_id)
);
CREATE INDEX service_referral_main_referrer_idx ON service_referral_main (campaign_id, referrer_id);

CREATE TABLE service_event_outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      BIGINT      REFERENCES service_campaign_main (id),
    event_type       TEXT        NOT NULL,
    target_url       TEXT,
    payload          JSONB       NOT NULL,
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    dead_at          TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX service_event_outbox_pending_idx ON service_event_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE service_translation_memory (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      BIGINT      NOT NULL REFERENCES service_campaign_main (id),
    source_lang      TEXT        NOT NULL,
    target_lang      TEXT        NOT NULL,
    context_key      TEXT        NOT NULL DEFAULT '',
    source_hash      TEXT        NOT NULL,
    source_text      TEXT        NOT NULL,
    translated_text  TEXT        NOT NULL,
    origin           TEXT        NOT NULL CHECK (origin IN ('machine', 'override')),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_translation_memory_key
        UNIQUE (campaign_id, source_lang, target_lang, context_key, source_hash)
);
