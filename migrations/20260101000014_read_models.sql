-- Read models: what dashboards read, kept current in the same transaction as the rows they
-- summarise, at a cost per batch that does not grow with the stored history.
--
-- Until now `kpi_latest` and `kpi_daily` were materialized views, recomputed over ALL of
-- kpi_points on a timer (14 s at 5 M points, longer than its interval at 50 M). They become
-- tables with the same names and columns, maintained by statement-level triggers whose
-- transition tables hold exactly the rows a statement wrote. The sink writes a batch with
-- COPY or INSERT … ON CONFLICT DO UPDATE … WHERE (changed), inside the transaction that also
-- stores its offsets, so the read models commit with the rows and offsets, or not at all.
--
-- How each change is folded in, so that a re-delivered row is neutral:
-- - rows INSERTed (new natural keys) are folded: counts and sums added, min/max widened,
--   the latest point replaced when newer. A re-delivered row with the same values is not
--   written at all (the upsert's WHERE … IS DISTINCT FROM), so it folds nothing.
-- - rows UPDATEd (a natural key re-delivered with other values) are rare: counts and sums
--   move by the difference between the old and the new row, and a bucket's min and max are
--   recomputed from its rows, which an index range scan finds. One upsert statement may both
--   insert and update; its two triggers then fire in an order PostgreSQL does not promise,
--   and each is written to be right whichever runs first.
-- - rows DELETEd (retention) leave the rollups as they are: a rollup outlives its points.
--
-- Sums are double precision, added in batch order; a GROUP BY over the same rows may add
-- them in another order, so sum and mean can differ from it in the last bits. Counts, min,
-- max and the latest point are exact.

DROP MATERIALIZED VIEW kpi_latest;
DROP MATERIALIZED VIEW kpi_daily;

-- Latest point of every series (dashboards' "current" tiles).
CREATE TABLE kpi_latest (
    series_id text             PRIMARY KEY,
    tenant_id text,
    metric    text             NOT NULL,
    unit      text             NOT NULL,
    ts        timestamptz      NOT NULL,
    value     double precision NOT NULL,
    source    text             NOT NULL
);
CREATE INDEX kpi_latest_tenant ON kpi_latest (tenant_id, series_id);

-- Per series and UTC hour: points, sum, min, max, and the mean they give.
CREATE TABLE kpi_hourly (
    series_id text             NOT NULL,
    hour      timestamptz      NOT NULL,
    tenant_id text,
    metric    text             NOT NULL,
    unit      text             NOT NULL,
    points    bigint           NOT NULL CHECK (points > 0),
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    mean      double precision GENERATED ALWAYS AS (sum / points) STORED,
    PRIMARY KEY (series_id, hour)
);

-- Per series and UTC day (dashboards' trend charts): the columns of the former view, plus sum.
CREATE TABLE kpi_daily (
    series_id text             NOT NULL,
    day       date             NOT NULL,
    tenant_id text,
    metric    text             NOT NULL,
    unit      text             NOT NULL,
    points    bigint           NOT NULL CHECK (points > 0),
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    mean      double precision GENERATED ALWAYS AS (sum / points) STORED,
    PRIMARY KEY (series_id, day)
);

-- Per tenant ('' for articles of no tenant) and UTC day of `seen_at`: articles, the sum of
-- their VADER compound scores and their mean, and how many were negative / positive as VADER
-- defines them (compound <= -0.05 / >= 0.05).
CREATE TABLE sentiment_daily (
    tenant_key   text             NOT NULL,
    day          date             NOT NULL,
    tenant_id    text,
    articles     bigint           NOT NULL,
    compound_sum double precision NOT NULL,
    negative     bigint           NOT NULL,
    positive     bigint           NOT NULL,
    mean_compound double precision GENERATED ALWAYS AS (compound_sum / articles) STORED,
    PRIMARY KEY (tenant_key, day)
);
CREATE INDEX news_sentiment_tenant_key_seen ON news_sentiment (tenant_key, seen_at);

-- One row per alert, folded from its notifications: the rows the `alerts` view used to
-- compute from every notification ever issued.
CREATE TABLE alert_states (
    alert_id    text        PRIMARY KEY,
    dedupe_key  text        NOT NULL,
    rule_id     bigint,
    series_id   text        NOT NULL,
    tenant_id   text,
    severity    text        NOT NULL,
    opened_at   timestamptz,
    resolved_at timestamptz,
    state       text        NOT NULL CHECK (state IN ('OPEN', 'RESOLVED'))
);
-- Open alerts per tenant: what a dashboard's alert panel asks for.
CREATE INDEX alert_states_open_by_tenant ON alert_states (tenant_id, opened_at DESC) WHERE state = 'OPEN';

-- ── kpi_points → kpi_latest, kpi_hourly, kpi_daily ─────────────────────────────────────────

CREATE FUNCTION kpi_points_fold_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_hourly AS r (series_id, hour, tenant_id, metric, unit, points, sum, min, max)
    SELECT series_id, date_trunc('hour', ts, 'UTC'), max(tenant_id), max(metric), max(unit),
           count(*), sum(value), min(value), max(value)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (series_id, hour) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, metric = EXCLUDED.metric, unit = EXCLUDED.unit,
        points = r.points + EXCLUDED.points, sum = r.sum + EXCLUDED.sum,
        min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max);

    INSERT INTO kpi_daily AS r (series_id, day, tenant_id, metric, unit, points, sum, min, max)
    SELECT series_id, (ts AT TIME ZONE 'UTC')::date, max(tenant_id), max(metric), max(unit),
           count(*), sum(value), min(value), max(value)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (series_id, day) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, metric = EXCLUDED.metric, unit = EXCLUDED.unit,
        points = r.points + EXCLUDED.points, sum = r.sum + EXCLUDED.sum,
        min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max);

    INSERT INTO kpi_latest AS l (series_id, tenant_id, metric, unit, ts, value, source)
    SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source
    FROM inserted ORDER BY series_id, ts DESC
    ON CONFLICT (series_id) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, metric = EXCLUDED.metric, unit = EXCLUDED.unit,
        ts = EXCLUDED.ts, value = EXCLUDED.value, source = EXCLUDED.source
    WHERE EXCLUDED.ts >= l.ts;
    RETURN NULL;
END $$;

CREATE FUNCTION kpi_points_refold_updated() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- The natural key (series_id, ts) never changes in an upsert, so a bucket keeps its count;
    -- its sum moves by the change of each value, and its min and max are recomputed from its
    -- rows (a value that changed may have been the extreme). An upsert of new and changed
    -- points fires this and the INSERT fold at the end of one statement, in either order: the
    -- fold adds only the new rows' counts and sums, and widening min/max twice is harmless.
    WITH changed AS (
        SELECT n.series_id, date_trunc('hour', n.ts, 'UTC') AS hour, max(n.tenant_id) AS tenant_id,
               max(n.metric) AS metric, max(n.unit) AS unit, sum(n.value - o.value) AS change
        FROM after_change n JOIN before_change o USING (series_id, ts)
        GROUP BY 1, 2)
    UPDATE kpi_hourly r
    SET tenant_id = c.tenant_id, metric = c.metric, unit = c.unit, sum = r.sum + c.change,
        min = e.min, max = e.max
    FROM changed c
    CROSS JOIN LATERAL (SELECT min(p.value) AS min, max(p.value) AS max FROM kpi_points p
                        WHERE p.series_id = c.series_id AND p.ts >= c.hour AND p.ts < c.hour + interval '1 hour') e
    WHERE r.series_id = c.series_id AND r.hour = c.hour;

    WITH changed AS (
        SELECT n.series_id, (n.ts AT TIME ZONE 'UTC')::date AS day, max(n.tenant_id) AS tenant_id,
               max(n.metric) AS metric, max(n.unit) AS unit, sum(n.value - o.value) AS change
        FROM after_change n JOIN before_change o USING (series_id, ts)
        GROUP BY 1, 2)
    UPDATE kpi_daily r
    SET tenant_id = c.tenant_id, metric = c.metric, unit = c.unit, sum = r.sum + c.change,
        min = e.min, max = e.max
    FROM changed c
    CROSS JOIN LATERAL (SELECT min(p.value) AS min, max(p.value) AS max FROM kpi_points p
                        WHERE p.series_id = c.series_id
                          AND p.ts >= (c.day::timestamp AT TIME ZONE 'UTC')
                          AND p.ts < ((c.day + 1)::timestamp AT TIME ZONE 'UTC')) e
    WHERE r.series_id = c.series_id AND r.day = c.day;

    INSERT INTO kpi_latest AS l (series_id, tenant_id, metric, unit, ts, value, source)
    SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source
    FROM after_change ORDER BY series_id, ts DESC
    ON CONFLICT (series_id) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, metric = EXCLUDED.metric, unit = EXCLUDED.unit,
        ts = EXCLUDED.ts, value = EXCLUDED.value, source = EXCLUDED.source
    WHERE EXCLUDED.ts >= l.ts;
    RETURN NULL;
END $$;

CREATE TRIGGER kpi_points_read_models_inserted AFTER INSERT ON kpi_points
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION kpi_points_fold_inserted();
CREATE TRIGGER kpi_points_read_models_updated AFTER UPDATE ON kpi_points
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_points_refold_updated();

-- ── news_sentiment → sentiment_daily ────────────────────────────────────────────────────────

CREATE FUNCTION news_sentiment_fold_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sentiment_daily AS r (tenant_key, day, tenant_id, articles, compound_sum, negative, positive)
    SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date, max(tenant_id), count(*), sum(compound),
           count(*) FILTER (WHERE compound <= -0.05), count(*) FILTER (WHERE compound >= 0.05)
    FROM inserted GROUP BY 1, 2
    ON CONFLICT (tenant_key, day) DO UPDATE
    SET articles = r.articles + EXCLUDED.articles, compound_sum = r.compound_sum + EXCLUDED.compound_sum,
        negative = r.negative + EXCLUDED.negative, positive = r.positive + EXCLUDED.positive;
    RETURN NULL;
END $$;

CREATE FUNCTION news_sentiment_refold_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- Each changed article leaves its old day and joins its new one (seen_at or its score may
    -- have changed): a fold of -1 for the old row and +1 for the new. Pure additions, so the
    -- INSERT fold of the same statement may run before or after this. A day left without
    -- articles is removed.
    INSERT INTO sentiment_daily AS r (tenant_key, day, tenant_id, articles, compound_sum, negative, positive)
    SELECT tenant_key, day, max(tenant_id), sum(sign), sum(sign * compound),
           coalesce(sum(sign) FILTER (WHERE compound <= -0.05), 0),
           coalesce(sum(sign) FILTER (WHERE compound >= 0.05), 0)
    FROM (SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date AS day, tenant_id, compound, -1 AS sign
          FROM before_change
          UNION ALL
          SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date, tenant_id, compound, 1 FROM after_change) c
    GROUP BY tenant_key, day
    ON CONFLICT (tenant_key, day) DO UPDATE
    SET articles = r.articles + EXCLUDED.articles, compound_sum = r.compound_sum + EXCLUDED.compound_sum,
        negative = r.negative + EXCLUDED.negative, positive = r.positive + EXCLUDED.positive;
    DELETE FROM sentiment_daily s
    USING (SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date AS day FROM before_change) k
    WHERE s.tenant_key = k.tenant_key AND s.day = k.day AND s.articles = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER news_sentiment_read_models_inserted AFTER INSERT ON news_sentiment
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION news_sentiment_fold_inserted();
CREATE TRIGGER news_sentiment_read_models_updated AFTER UPDATE ON news_sentiment
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION news_sentiment_refold_changed();

-- ── alert_notifications → alert_states (and the `alerts` view) ─────────────────────────────

CREATE FUNCTION alert_notifications_fold_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_states AS a (alert_id, dedupe_key, rule_id, series_id, tenant_id, severity,
                                   opened_at, resolved_at, state)
    SELECT alert_id, min(dedupe_key), min(rule_id), min(series_id), min(tenant_id), min(severity),
           min(occurred_at) FILTER (WHERE transition = 'OPENED'),
           max(occurred_at) FILTER (WHERE transition = 'RESOLVED'),
           CASE WHEN bool_or(transition = 'RESOLVED') THEN 'RESOLVED' ELSE 'OPEN' END
    FROM inserted GROUP BY alert_id
    ON CONFLICT (alert_id) DO UPDATE
    SET dedupe_key = least(a.dedupe_key, EXCLUDED.dedupe_key), rule_id = least(a.rule_id, EXCLUDED.rule_id),
        series_id = least(a.series_id, EXCLUDED.series_id), tenant_id = least(a.tenant_id, EXCLUDED.tenant_id),
        severity = least(a.severity, EXCLUDED.severity),
        opened_at = least(a.opened_at, EXCLUDED.opened_at),
        resolved_at = greatest(a.resolved_at, EXCLUDED.resolved_at),
        state = CASE WHEN 'RESOLVED' IN (a.state, EXCLUDED.state) THEN 'RESOLVED' ELSE 'OPEN' END;
    RETURN NULL;
END $$;

CREATE FUNCTION alert_notifications_recompute_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- Notifications are immutable facts; should one change anyway, its alert is recomputed
    -- from its rows. The INSERT fold of the same statement only narrows with least/greatest
    -- and ORs the state, so it may run before or after this.
    DELETE FROM alert_states a USING (SELECT DISTINCT alert_id FROM before_change) k WHERE a.alert_id = k.alert_id;
    INSERT INTO alert_states (alert_id, dedupe_key, rule_id, series_id, tenant_id, severity,
                              opened_at, resolved_at, state)
    SELECT n.alert_id, min(n.dedupe_key), min(n.rule_id), min(n.series_id), min(n.tenant_id), min(n.severity),
           min(n.occurred_at) FILTER (WHERE n.transition = 'OPENED'),
           max(n.occurred_at) FILTER (WHERE n.transition = 'RESOLVED'),
           CASE WHEN bool_or(n.transition = 'RESOLVED') THEN 'RESOLVED' ELSE 'OPEN' END
    FROM alert_notifications n
    WHERE n.alert_id IN (SELECT alert_id FROM before_change UNION SELECT alert_id FROM after_change)
    GROUP BY n.alert_id;
    RETURN NULL;
END $$;

CREATE TRIGGER alert_notifications_read_models_inserted AFTER INSERT ON alert_notifications
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION alert_notifications_fold_inserted();
CREATE TRIGGER alert_notifications_read_models_updated AFTER UPDATE ON alert_notifications
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION alert_notifications_recompute_changed();

-- Same name and columns as before; now a lookup instead of a GROUP BY over every notification.
CREATE OR REPLACE VIEW alerts AS
SELECT alert_id, dedupe_key, rule_id, series_id, tenant_id, severity, opened_at, resolved_at, state
FROM alert_states;

-- ── what is already stored ──────────────────────────────────────────────────────────────────

INSERT INTO kpi_latest (series_id, tenant_id, metric, unit, ts, value, source)
SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source
FROM kpi_points ORDER BY series_id, ts DESC;

INSERT INTO kpi_hourly (series_id, hour, tenant_id, metric, unit, points, sum, min, max)
SELECT series_id, date_trunc('hour', ts, 'UTC'), max(tenant_id), max(metric), max(unit),
       count(*), sum(value), min(value), max(value)
FROM kpi_points GROUP BY 1, 2;

INSERT INTO kpi_daily (series_id, day, tenant_id, metric, unit, points, sum, min, max)
SELECT series_id, (ts AT TIME ZONE 'UTC')::date, max(tenant_id), max(metric), max(unit),
       count(*), sum(value), min(value), max(value)
FROM kpi_points GROUP BY 1, 2;

INSERT INTO sentiment_daily (tenant_key, day, tenant_id, articles, compound_sum, negative, positive)
SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date, max(tenant_id), count(*), sum(compound),
       count(*) FILTER (WHERE compound <= -0.05), count(*) FILTER (WHERE compound >= 0.05)
FROM news_sentiment GROUP BY 1, 2;

INSERT INTO alert_states (alert_id, dedupe_key, rule_id, series_id, tenant_id, severity, opened_at, resolved_at, state)
SELECT alert_id, min(dedupe_key), min(rule_id), min(series_id), min(tenant_id), min(severity),
       min(occurred_at) FILTER (WHERE transition = 'OPENED'),
       max(occurred_at) FILTER (WHERE transition = 'RESOLVED'),
       CASE WHEN bool_or(transition = 'RESOLVED') THEN 'RESOLVED' ELSE 'OPEN' END
FROM alert_notifications GROUP BY alert_id;
