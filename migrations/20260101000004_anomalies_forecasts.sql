-- Derived KPI tables: the anomaly score of every point (kpi.anomalies) and every forecast
-- issued (kpi.forecasts), plus the view dashboards read for the latest forecast of a series.

CREATE TABLE kpi_anomalies (
    series_id  text             NOT NULL,
    ts         timestamptz      NOT NULL,
    tenant_id  text,
    value      double precision NOT NULL,
    score      double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    is_anomaly boolean          NOT NULL,
    detector   text             NOT NULL,
    PRIMARY KEY (series_id, ts)
);
CREATE INDEX kpi_anomalies_flagged ON kpi_anomalies (tenant_id, ts DESC) WHERE is_anomaly;

-- One row per forecast issued; the horizon's points as a jsonb array of
-- {ts, mean, lower_80, upper_80, lower_95, upper_95}.
CREATE TABLE kpi_forecasts (
    series_id    text        NOT NULL,
    issued_at    timestamptz NOT NULL,
    tenant_id    text,
    model        text        NOT NULL,
    step_seconds bigint      NOT NULL CHECK (step_seconds > 0),
    points       jsonb       NOT NULL,
    PRIMARY KEY (series_id, issued_at)
);

-- The points of the latest forecast of every series, one row per step.
CREATE VIEW kpi_forecast_latest AS
SELECT f.series_id, f.tenant_id, f.model, f.issued_at, p.ts, p.mean, p.lower_80, p.upper_80, p.lower_95, p.upper_95
FROM (SELECT DISTINCT ON (series_id) * FROM kpi_forecasts ORDER BY series_id, issued_at DESC) f,
     jsonb_to_recordset(f.points) AS p(ts timestamptz, mean float8, lower_80 float8, upper_80 float8,
                                       lower_95 float8, upper_95 float8);
