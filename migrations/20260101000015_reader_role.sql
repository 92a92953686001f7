-- The read path's wall in the database: `signalcraft_reader`, the role every dashboard read goes
-- through, sees the rows of the tenant its session names and public rows (no tenant), nothing
-- else, even when a query forgets to filter:
--
--     SET LOCAL signalcraft.tenant_id = 'acme';   -- per transaction, by the tenant API
--
-- The role cannot log in; grant it to a login role (README, "Reading the data"). It may only
-- SELECT, and only the tables below: tenant data under row-level security, and the public
-- exchange rates. Operator tables (offsets, watch list, rules, webhook deliveries and their
-- secrets, ingest marks, the raw weather and brand tables) are not readable by it at all.
-- The tables' owner, the pipeline's own user, is not subject to the policies.
--
-- Roles belong to the server, not the database: the role is created once, and a second
-- database on the same server (or two migrations racing) finds it there.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'signalcraft_reader') THEN
        CREATE ROLE signalcraft_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a migration of another database on this server
END $$;

-- Tenant data: one policy per table, for SELECT only.
DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'kpi_points', 'kpi_anomalies', 'kpi_forecasts', 'news_articles', 'news_sentiment',
        'alert_notifications', 'kpi_latest', 'kpi_hourly', 'kpi_daily', 'sentiment_daily', 'alert_states']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I FOR SELECT TO signalcraft_reader '
            'USING (tenant_id IS NULL OR tenant_id = current_setting(''signalcraft.tenant_id'', true))',
            tenant_table);
        EXECUTE format('GRANT SELECT ON %I TO signalcraft_reader', tenant_table);
    END LOOP;
END $$;

-- Views run with the rights of whoever reads them, so the policies of their tables apply.
ALTER VIEW alerts SET (security_invoker = true);
ALTER VIEW kpi_forecast_latest SET (security_invoker = true);
GRANT SELECT ON alerts, kpi_forecast_latest TO signalcraft_reader;

-- Public rows: exchange rates belong to no tenant.
GRANT SELECT ON fx_rates TO signalcraft_reader;
