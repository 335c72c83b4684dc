-- Visitors connected to a campaign, sampled once a minute (each instance
-- samples the campaigns it serves; with Redis the count spans instances, so
-- they write the same value to the same row): the visitors line of the
-- campaign's hourly series, over its whole life rather than only while a
-- dashboard is open.
CREATE TABLE service_visitor_sample (
    campaign_id  BIGINT      NOT NULL REFERENCES service_campaign_main (id),
    minute       TIMESTAMPTZ NOT NULL,
    active       BIGINT      NOT NULL CHECK (active >= 0),
    PRIMARY KEY (campaign_id, minute)
);
CREATE INDEX service_visitor_sample_minute_idx ON service_visitor_sample (minute);
