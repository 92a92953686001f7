-- The tenant API (`signalcraft serve`): what it may read and write, its API keys, its audit trail,
-- and the events its Server-Sent Events streams deliver.
--
-- Every API request runs in one transaction as `signalcraft_reader` (reads) or
-- `signalcraft_editor` (a tenant's rule writes), with `signalcraft.tenant_id` set to the caller's
-- tenant: row-level security is the second wall behind the handler's own check.

-- ── roles ───────────────────────────────────────────────────────────────────────────────────
-- The editor reads what the reader reads (a member of it, so the reader's policies apply) and
-- may also change its tenant's alert rules and write the audit rows of those changes.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'signalcraft_editor') THEN
        CREATE ROLE signalcraft_editor NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a migration of another database on this server
END $$;
GRANT signalcraft_reader TO signalcraft_editor;

-- The migrating user is the API's default login: it switches to the two roles per transaction
-- (SET LOCAL ROLE), which needs membership. A user who may not grant it (no ADMIN OPTION) gets
-- a notice; `serve` then refuses to start, naming `api.database_url` (a login granted both).
DO $$
BEGIN
    EXECUTE format('GRANT signalcraft_reader, signalcraft_editor TO %I', current_user);
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
    RAISE NOTICE 'could not grant signalcraft_reader and signalcraft_editor to %: %', current_user, SQLERRM;
END $$;

-- ── alert rules: a tenant reads and manages its own ─────────────────────────────────────────
-- Operator rules (no tenant) stay invisible to tenants. The pipeline's user owns the table
-- and is not subject to these policies.
ALTER TABLE alert_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rules_read ON alert_rules FOR SELECT TO signalcraft_reader
    USING (tenant_id = current_setting('signalcraft.tenant_id', true));
CREATE POLICY tenant_rules_write ON alert_rules FOR ALL TO signalcraft_editor
    USING (tenant_id = current_setting('signalcraft.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('signalcraft.tenant_id', true));
GRANT SELECT ON alert_rules TO signalcraft_reader;
GRANT INSERT, UPDATE, DELETE ON alert_rules TO signalcraft_editor;
-- The versions trigger writes an operator table the editor cannot touch: it runs with its
-- owner's rights, on this schema only.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION signalcraft_version_alert_rule() SECURITY DEFINER SET search_path = %I, pg_temp',
                   current_schema());
END $$;

-- ── API keys: for machines, exchanged for short-lived tokens ────────────────────────────────
-- The key is shown once, when created; only the SHA-256 of its secret part is kept. Keys are
-- 256-bit random values, so a plain digest (no salt, no stretching) is as strong as the key.
CREATE TABLE api_keys (
    key_id        text        PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{16}$'),
    tenant_id     text        NOT NULL CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    role          text        NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    secret_sha256 bytea       NOT NULL CHECK (octet_length(secret_sha256) = 32),
    label         text        NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- ── audit: one row per write through the API, in the write's own transaction ───────────────
CREATE TABLE api_audit (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    tenant_id text        NOT NULL,
    subject   text        NOT NULL,
    role      text        NOT NULL,
    action    text        NOT NULL,
    target    text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX api_audit_tenant_at ON api_audit (tenant_id, at);
ALTER TABLE api_audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_audit_insert ON api_audit FOR INSERT TO signalcraft_editor
    WITH CHECK (tenant_id = current_setting('signalcraft.tenant_id', true));
GRANT INSERT ON api_audit TO signalcraft_editor;

-- ── events for live dashboards ──────────────────────────────────────────────────────────────
-- Written by triggers in the sink's transaction, so an event exists exactly when its rows
-- committed. A stream reads them in (xid, id) order and only from transactions older than every
-- transaction of this database still running (xid < signalcraft_events_horizon()): an event
-- committed later can never sort before one already delivered, so `Last-Event-ID` = (xid, id)
-- resumes without a gap. One NOTIFY per statement wakes the streams; the payload is empty, the
-- rows are the truth.
CREATE TABLE tenant_events (
    xid       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    id        bigint      GENERATED ALWAYS AS IDENTITY,
    at        timestamptz NOT NULL DEFAULT now(),
    tenant_id text,
    kind      text        NOT NULL CHECK (kind IN ('points', 'anomaly', 'alert_opened', 'alert_resolved')),
    series_id text        NOT NULL,
    data      jsonb       NOT NULL,
    PRIMARY KEY (xid, id)
);
CREATE INDEX tenant_events_tenant ON tenant_events (tenant_id, xid, id);
CREATE INDEX tenant_events_at ON tenant_events (at);
ALTER TABLE tenant_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tenant_events FOR SELECT TO signalcraft_reader
    USING (tenant_id IS NULL OR tenant_id = current_setting('signalcraft.tenant_id', true));
GRANT SELECT ON tenant_events TO signalcraft_reader;

-- Below which xid every transaction that could still write events has ended, as of the calling
-- statement's snapshot: the oldest xid the snapshot counts as running, unless a backend of
-- another database holds it (xids are server-wide, so the snapshot's own xmin would let a long
-- transaction anywhere on the server stall every stream), else the snapshot's xmax. A running
-- xid not positively another database's (its lock already released, a prepared transaction, a
-- backend without a database) counts as this database's: it holds events back for one read at
-- most, never lets one be skipped. pg_locks and pg_stat_activity's datid and pid are readable by
-- every role. Call it once per statement (`(SELECT signalcraft_events_horizon())`), not per row.
CREATE FUNCTION signalcraft_events_horizon() RETURNS xid8
    LANGUAGE sql STABLE AS $$
    SELECT coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot()))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE NOT EXISTS (
        SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
          AND l.transactionid = xid(running)
          AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;

-- New points: one event per series and statement (a batch), with the newest point.
CREATE FUNCTION kpi_points_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_events (tenant_id, kind, series_id, data)
    SELECT DISTINCT ON (series_id) tenant_id, 'points', series_id,
           jsonb_build_object('metric', metric, 'unit', unit, 'ts', ts, 'value', value,
                              'points', count(*) OVER (PARTITION BY series_id))
    FROM inserted ORDER BY series_id, ts DESC;
    IF FOUND THEN
        PERFORM pg_notify('signalcraft_events', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER kpi_points_events AFTER INSERT ON kpi_points
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION kpi_points_events();

-- Flagged anomalies: one event each.
CREATE FUNCTION kpi_anomalies_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_events (tenant_id, kind, series_id, data)
    SELECT tenant_id, 'anomaly', series_id,
           jsonb_build_object('ts', ts, 'value', value, 'score', score, 'detector', detector)
    FROM inserted WHERE is_anomaly ORDER BY ts;
    IF FOUND THEN
        PERFORM pg_notify('signalcraft_events', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER kpi_anomalies_events AFTER INSERT ON kpi_anomalies
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION kpi_anomalies_events();

-- Alerts opened and resolved: one event per notification.
CREATE FUNCTION alert_notifications_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_events (tenant_id, kind, series_id, data)
    SELECT tenant_id, CASE transition WHEN 'OPENED' THEN 'alert_opened' ELSE 'alert_resolved' END, series_id,
           jsonb_build_object('alert_id', alert_id, 'rule_id', rule_id, 'severity', severity,
                              'message', message, 'value', value, 'score', score, 'occurred_at', occurred_at)
    FROM inserted ORDER BY occurred_at;
    IF FOUND THEN
        PERFORM pg_notify('signalcraft_events', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER alert_notifications_events AFTER INSERT ON alert_notifications
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION alert_notifications_events();
