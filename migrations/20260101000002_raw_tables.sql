-- Tables for the raw upstream topics: news articles (raw.news), weather observations
-- (raw.weather) and Digi-Cadence brand metrics (raw.brand_metrics). Each upserts on its
-- record's natural key.

CREATE TABLE news_articles (
    url            text        PRIMARY KEY,
    title          text        NOT NULL,
    seen_at        timestamptz NOT NULL,
    domain         text,
    language       text,
    source_country text,
    social_image   text,
    tenant_id      text,
    query          text        NOT NULL,
    fetched_at     timestamptz NOT NULL
);
CREATE INDEX news_articles_tenant_seen ON news_articles (tenant_id, seen_at DESC);

-- A forecast, the current conditions and the archive (reanalysis) of the same hour are three
-- different facts: the kind is part of the key.
CREATE TABLE weather_observations (
    location_id text             NOT NULL,
    kind        text             NOT NULL CHECK (kind IN ('FORECAST', 'CURRENT', 'ARCHIVE')),
    hour        timestamptz      NOT NULL,
    latitude    double precision NOT NULL,
    longitude   double precision NOT NULL,
    variables   jsonb            NOT NULL,
    units       jsonb            NOT NULL,
    fetched_at  timestamptz      NOT NULL,
    PRIMARY KEY (location_id, kind, hour)
);

CREATE TABLE brand_metrics (
    brand_id     bigint           NOT NULL,
    metric       text             NOT NULL,
    project_id   bigint           NOT NULL,
    period_start date             NOT NULL,
    brand_name   text             NOT NULL,
    value        double precision,
    fetched_at   timestamptz      NOT NULL,
    PRIMARY KEY (brand_id, metric, project_id)
);
CREATE INDEX brand_metrics_period ON brand_metrics (period_start, metric);
