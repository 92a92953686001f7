-- kpi_points and kpi_anomalies, the tables that grow with every point of every series, become
-- partitioned by month of `ts` (UTC), so retention drops whole months instead of deleting
-- rows, and queries over a time range read only its months. Partitions are named
-- `<table>_pYYYYMM`; the sink creates them ahead of time and, for a point in a month that has
-- none yet (a backfill, a partner's history), before writing it. Existing rows move into their
-- months here, once.

-- Creates the partition of `parent` holding the UTC month of `month`, unless it exists.
-- Returns whether it created it. Two sinks creating the same month at once: one wins, the
-- other finds it made.
CREATE FUNCTION signalcraft_ensure_month_partition(parent text, month date) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    partition text := format('%s_p%s', parent, to_char(first, 'YYYYMM'));
BEGIN
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Bounds spelled out in UTC, whatever the session's TimeZone and DateStyle.
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   partition, parent,
                   to_char(first, 'YYYY-MM-DD') || ' 00:00:00+00',
                   to_char((first + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00');
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;
END $$;

-- ── kpi_points ──────────────────────────────────────────────────────────────────────────────
ALTER TABLE kpi_points RENAME TO kpi_points_unpartitioned;
ALTER INDEX kpi_points_pkey RENAME TO kpi_points_unpartitioned_pkey;
ALTER INDEX kpi_points_tenant_metric_ts RENAME TO kpi_points_unpartitioned_tenant_metric_ts;

CREATE TABLE kpi_points (
    series_id text             NOT NULL,
    ts        timestamptz      NOT NULL,
    tenant_id text,
    metric    text             NOT NULL,
    unit      text             NOT NULL,
    value     double precision NOT NULL,
    source    text             NOT NULL,
    PRIMARY KEY (series_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX kpi_points_tenant_metric_ts ON kpi_points (tenant_id, metric, ts DESC);

SELECT signalcraft_ensure_month_partition('kpi_points', month)
FROM (SELECT DISTINCT date_trunc('month', ts, 'UTC')::date AS month FROM kpi_points_unpartitioned) months;
-- The read models already hold these rows: the triggers are created after the move.
INSERT INTO kpi_points SELECT * FROM kpi_points_unpartitioned;
DROP TABLE kpi_points_unpartitioned;

CREATE TRIGGER kpi_points_read_models_inserted AFTER INSERT ON kpi_points
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION kpi_points_fold_inserted();
CREATE TRIGGER kpi_points_read_models_updated AFTER UPDATE ON kpi_points
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_points_refold_updated();

-- ── kpi_anomalies ───────────────────────────────────────────────────────────────────────────
ALTER TABLE kpi_anomalies RENAME TO kpi_anomalies_unpartitioned;
ALTER INDEX kpi_anomalies_pkey RENAME TO kpi_anomalies_unpartitioned_pkey;
ALTER INDEX kpi_anomalies_flagged RENAME TO kpi_anomalies_unpartitioned_flagged;

CREATE TABLE kpi_anomalies (
    series_id  text             NOT NULL,
    ts         timestamptz      NOT NULL,
    tenant_id  text,
    value      double precision NOT NULL,
    score      double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    is_anomaly boolean          NOT NULL,
    detector   text             NOT NULL,
    PRIMARY KEY (series_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX kpi_anomalies_flagged ON kpi_anomalies (tenant_id, ts DESC) WHERE is_anomaly;

SELECT signalcraft_ensure_month_partition('kpi_anomalies', month)
FROM (SELECT DISTINCT date_trunc('month', ts, 'UTC')::date AS month FROM kpi_anomalies_unpartitioned) months;
INSERT INTO kpi_anomalies SELECT * FROM kpi_anomalies_unpartitioned;
DROP TABLE kpi_anomalies_unpartitioned;

-- The reader's wall, as on the tables they replace (migration reader_role). Partitions get no
-- grant: the reader reads through the parent, whose policy applies.
ALTER TABLE kpi_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_anomalies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON kpi_points FOR SELECT TO signalcraft_reader
    USING (tenant_id IS NULL OR tenant_id = current_setting('signalcraft.tenant_id', true));
CREATE POLICY tenant_rows ON kpi_anomalies FOR SELECT TO signalcraft_reader
    USING (tenant_id IS NULL OR tenant_id = current_setting('signalcraft.tenant_id', true));
GRANT SELECT ON kpi_points, kpi_anomalies TO signalcraft_reader;

-- Settled webhook deliveries lose their payload after `retention.webhook_payload_days`: the
-- row (outcome, attempts, error) stays; `payload` becomes JSON null.
COMMENT ON COLUMN webhook_deliveries.payload IS
    'the notification as sent; JSON null once purged by retention (DELIVERED rows only)';
