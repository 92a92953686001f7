-- What the Grafana KPI dashboard (deploy/grafana/dashboards/signalcraft-kpis.json) reads: one
-- function per kind of panel, each taking the tenant and returning that tenant's rows only.
--
-- Grafana logs in as a login that is a member of `signalcraft_reader` only
-- (deploy/postgres/grafana-login.sql creates it), so row-level security applies, and the
-- policies need `signalcraft.tenant_id` set in the transaction that reads. Grafana sends each
-- panel query on its own, on whichever pooled connection is free, as one statement in its own
-- implicit transaction. So the tenant must be set by the very statement that reads:
--
-- - a session-level `SET` (or set_config(…, false)) would outlive the query and leak to
--   whatever panel of whichever tenant runs next on that connection;
-- - two statements in one panel (`SELECT set_config(…); SELECT …`) are not what Grafana
--   runs: it reads only one result set;
-- - a CTE in the same statement (`WITH t AS MATERIALIZED (SELECT set_config(…, true)) SELECT …
--   FROM t, kpi_daily`) sets it in an order the planner chooses, not the query. Measured on
--   PostgreSQL 15 as a reader: `FROM t, kpi_daily` and `FROM kpi_daily, t` both plan a nested
--   loop, and the second returns no rows, because the table's policy is evaluated before the
--   CTE runs; with a tenant already set in the transaction, it returned rows of BOTH tenants
--   (the setting changed in the middle of the scan).
--
-- A PL/pgSQL function settles the order: its first statement sets the tenant for the rest of
-- the transaction (set_config(…, true), i.e. SET LOCAL, gone when Grafana's implicit
-- transaction ends), its second reads. The functions run with the caller's rights (SECURITY
-- INVOKER, the default), so the reader's policies still apply to every row they read, and
-- they also filter on the tenant themselves: the pipeline's own login, not subject to the
-- policies, gets the same rows. The tenant arrives as a SQL string literal: the dashboard
-- writes `${tenant:sqlstring}`, which Grafana quotes and whose quotes it doubles
-- (tests/grafana_kpi_dashboard.rs runs every panel with hostile values).
--
-- What this does NOT do: stop someone who can edit the dashboard's SQL from naming another
-- tenant. The Grafana login reads any tenant it names, like every login granted the reader
-- role (README, "Reading the data"); Grafana's own permissions decide who sees the dashboard.

CREATE FUNCTION grafana_enter_tenant(tenant text) RETURNS text
    LANGUAGE sql VOLATILE AS $$
    SELECT set_config('signalcraft.tenant_id', coalesce(tenant, ''), true)
$$;

-- The tenant's series, for the dashboard's series picker.
CREATE FUNCTION grafana_series(tenant text)
    RETURNS TABLE (series_id text, metric text, unit text)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    RETURN QUERY
        SELECT l.series_id, l.metric, l.unit FROM kpi_latest l
        WHERE l.tenant_id = tenant ORDER BY l.series_id;
END $$;

-- Points of one series between two instants, from the store that suits the span: the raw
-- points up to 3 days, hourly rollups up to 120 days, daily beyond (a panel is a few hundred
-- pixels wide). `value` is the point or the bucket's mean; min and max the bucket's range.
CREATE FUNCTION grafana_points(tenant text, series text, from_ts timestamptz, to_ts timestamptz)
    RETURNS TABLE ("time" timestamptz, value double precision, min double precision, max double precision)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    IF to_ts - from_ts <= interval '3 days' THEN
        RETURN QUERY
            SELECT p.ts, p.value, p.value, p.value FROM kpi_points p
            WHERE p.tenant_id = tenant AND p.series_id = series AND p.ts >= from_ts AND p.ts <= to_ts
            ORDER BY p.ts;
    ELSIF to_ts - from_ts <= interval '120 days' THEN
        RETURN QUERY
            SELECT h.hour, h.mean, h.min, h.max FROM kpi_hourly h
            WHERE h.tenant_id = tenant AND h.series_id = series AND h.hour >= date_trunc('hour', from_ts, 'UTC')
              AND h.hour <= to_ts
            ORDER BY h.hour;
    ELSE
        RETURN QUERY
            SELECT d.day::timestamp AT TIME ZONE 'UTC', d.mean, d.min, d.max FROM kpi_daily d
            WHERE d.tenant_id = tenant AND d.series_id = series
              AND d.day >= (from_ts AT TIME ZONE 'UTC')::date AND d.day <= (to_ts AT TIME ZONE 'UTC')::date
            ORDER BY d.day;
    END IF;
END $$;

-- The latest forecast of one series with its 80 % and 95 % intervals, the steps in the range.
CREATE FUNCTION grafana_forecast(tenant text, series text, from_ts timestamptz, to_ts timestamptz)
    RETURNS TABLE ("time" timestamptz, forecast double precision, lower_80 double precision,
                   upper_80 double precision, lower_95 double precision, upper_95 double precision)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    RETURN QUERY
        SELECT f.ts, f.mean, f.lower_80, f.upper_80, f.lower_95, f.upper_95 FROM kpi_forecast_latest f
        WHERE f.tenant_id = tenant AND f.series_id = series AND f.ts >= from_ts AND f.ts <= to_ts
        ORDER BY f.ts;
END $$;

-- Points of one series flagged as anomalies in the range, with their scores (markers).
CREATE FUNCTION grafana_anomalies(tenant text, series text, from_ts timestamptz, to_ts timestamptz)
    RETURNS TABLE ("time" timestamptz, anomaly double precision, score double precision)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    RETURN QUERY
        SELECT a.ts, a.value, a.score FROM kpi_anomalies a
        WHERE a.tenant_id = tenant AND a.series_id = series AND a.is_anomaly AND a.ts >= from_ts AND a.ts <= to_ts
        ORDER BY a.ts;
END $$;

-- The tenant's open alerts, newest first, with what opened them.
CREATE FUNCTION grafana_open_alerts(tenant text)
    RETURNS TABLE (opened_at timestamptz, severity text, series_id text, message text, value double precision,
                   score double precision, alert_id text)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    RETURN QUERY
        SELECT s.opened_at, s.severity, s.series_id, n.message, n.value, n.score, s.alert_id
        FROM alert_states s
        LEFT JOIN LATERAL (SELECT o.message, o.value, o.score FROM alert_notifications o
                           WHERE o.alert_id = s.alert_id AND o.transition = 'OPENED'
                           ORDER BY o.occurred_at LIMIT 1) n ON true
        WHERE s.tenant_id = tenant AND s.state = 'OPEN'
        ORDER BY s.opened_at DESC NULLS LAST, s.alert_id;
END $$;

-- The latest value of each of the tenant's series.
CREATE FUNCTION grafana_latest(tenant text)
    RETURNS TABLE (series_id text, metric text, unit text, "time" timestamptz, value double precision)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM grafana_enter_tenant(tenant);
    RETURN QUERY
        SELECT l.series_id, l.metric, l.unit, l.ts, l.value FROM kpi_latest l
        WHERE l.tenant_id = tenant ORDER BY l.series_id;
END $$;

-- Only the reader (and its members, such as the Grafana login) and the owner run them.
REVOKE EXECUTE ON FUNCTION grafana_enter_tenant(text), grafana_series(text),
    grafana_points(text, text, timestamptz, timestamptz), grafana_forecast(text, text, timestamptz, timestamptz),
    grafana_anomalies(text, text, timestamptz, timestamptz), grafana_open_alerts(text), grafana_latest(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grafana_enter_tenant(text), grafana_series(text),
    grafana_points(text, text, timestamptz, timestamptz), grafana_forecast(text, text, timestamptz, timestamptz),
    grafana_anomalies(text, text, timestamptz, timestamptz), grafana_open_alerts(text), grafana_latest(text)
    TO signalcraft_reader;
