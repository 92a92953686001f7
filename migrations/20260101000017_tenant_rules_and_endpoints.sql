-- Alert rules belong to a tenant (or, with none, to the operator: every tenant's series, as
-- before). A tenant's rule watches only that tenant's series, whatever its pattern matches;
-- its alerts carry the tenant like any other.
ALTER TABLE alert_rules
    ADD COLUMN tenant_id text CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$');
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id);
