-- Foundation schema: the offsets the sink stores with its data, exchange rates, KPI points, and
-- the materialized views dashboards read.

-- Next Kafka offset to read per (consumer group, topic, partition), written in the same
-- transaction as the rows it covers: the source of truth for where the sink resumes.
CREATE TABLE sink_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL CHECK (partition >= 0),
    next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- One exchange rate per (base, quote, day), from raw.fx.
CREATE TABLE fx_rates (
    base         text             NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote        text             NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
    rate_date    date             NOT NULL,
    rate         double precision NOT NULL,
    provider     text             NOT NULL,
    published_at timestamptz,
    fetched_at   timestamptz      NOT NULL,
    PRIMARY KEY (base, quote, rate_date)
);

-- Every KPI point, from kpi.points.
CREATE TABLE kpi_points (
    series_id text             NOT NULL,
    ts        timestamptz      NOT NULL,
    tenant_id text,
    metric    text             NOT NULL,
    unit      text             NOT NULL,
    value     double precision NOT NULL,
    source    text             NOT NULL,
    PRIMARY KEY (series_id, ts)
);
CREATE INDEX kpi_points_tenant_metric_ts ON kpi_points (tenant_id, metric, ts DESC);

-- Latest value of every series (dashboards' "current" tiles).
CREATE MATERIALIZED VIEW kpi_latest AS
SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source
FROM kpi_points
ORDER BY series_id, ts DESC;
CREATE UNIQUE INDEX kpi_latest_series ON kpi_latest (series_id);

-- Daily aggregates per series (dashboards' trend charts).
CREATE MATERIALIZED VIEW kpi_daily AS
SELECT series_id, tenant_id, metric, unit,
       date_trunc('day', ts AT TIME ZONE 'UTC')::date AS day,
       count(*) AS points, avg(value) AS mean, min(value) AS min, max(value) AS max
FROM kpi_points
GROUP BY series_id, tenant_id, metric, unit, date_trunc('day', ts AT TIME ZONE 'UTC')::date;
CREATE UNIQUE INDEX kpi_daily_series_day ON kpi_daily (series_id, day);
