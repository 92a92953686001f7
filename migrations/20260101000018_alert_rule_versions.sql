-- Alert rules as versioned input of the alerting processor. Every change of `alert_rules` (add,
-- enable, disable, remove, an edit by hand) closes the rule's version in force and, unless the
-- rule was removed, opens a new one. The alerting processor evaluates each anomaly against the
-- versions in force when that anomaly was appended to kpi.anomalies (its Kafka timestamp), so
-- replaying the same records gives the same alerts whenever, and however often, the rules were
-- read. Versions are never rewritten; a compacted topic would keep only the latest one.
CREATE TABLE alert_rule_versions (
    version        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id        bigint           NOT NULL,
    -- In force from `valid_from` (inclusive) until `valid_until` (exclusive; NULL: still).
    valid_from     timestamptz      NOT NULL,
    valid_until    timestamptz,
    name           text             NOT NULL,
    series_pattern text             NOT NULL,
    comparison     text             NOT NULL,
    threshold      double precision NOT NULL,
    duration_secs  bigint           NOT NULL,
    severity       text             NOT NULL,
    enabled        boolean          NOT NULL,
    tenant_id      text
);
CREATE INDEX alert_rule_versions_rule ON alert_rule_versions (rule_id, valid_from);
-- At most one version of a rule is in force.
CREATE UNIQUE INDEX alert_rule_versions_current ON alert_rule_versions (rule_id) WHERE valid_until IS NULL;

CREATE FUNCTION signalcraft_version_alert_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE alert_rule_versions SET valid_until = now()
        WHERE rule_id = OLD.id AND valid_until IS NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO alert_rule_versions
            (rule_id, valid_from, name, series_pattern, comparison, threshold, duration_secs, severity,
             enabled, tenant_id)
        VALUES
            (NEW.id, now(), NEW.name, NEW.series_pattern, NEW.comparison, NEW.threshold, NEW.duration_secs,
             NEW.severity, NEW.enabled, NEW.tenant_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER alert_rules_versioned
    AFTER INSERT OR UPDATE OR DELETE ON alert_rules
    FOR EACH ROW EXECUTE FUNCTION signalcraft_version_alert_rule();

-- The rules that exist already were applied to whatever the processor read, old or new: they
-- stay in force for every record, as before.
INSERT INTO alert_rule_versions
    (rule_id, valid_from, name, series_pattern, comparison, threshold, duration_secs, severity, enabled, tenant_id)
SELECT id, '-infinity', name, series_pattern, comparison, threshold, duration_secs, severity, enabled, tenant_id
FROM alert_rules;
