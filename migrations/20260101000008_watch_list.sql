-- The watch list: the businesses (tenants) signalcraft fetches signals for, editable while the
-- pipeline runs (`signalcraft watch add|list|remove`). Every ingest cycle reads it afresh, so a
-- new business is picked up on the next cycle and a removed one is no longer fetched. Entries
-- from the TOML configuration are fetched too; this table adds to them.
CREATE TABLE watched_businesses (
    -- The tenant id every record and KPI series of this business carries.
    tenant_id     text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    name          text NOT NULL CHECK (length(btrim(name)) > 0),
    -- Where its weather is fetched (Open-Meteo); both or neither.
    latitude      double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude     double precision CHECK (longitude BETWEEN -180 AND 180),
    -- ISO 4217 code of its home currency: its exchange rates against the configured bases.
    currency      text CHECK (currency ~ '^[A-Z]{3}$'),
    -- GDELT DOC 2.0 queries, in GDELT's syntax, one per element.
    gdelt_queries text[] NOT NULL DEFAULT '{}',
    -- Digi-Cadence brand ids of this business; empty: every brand of its projects.
    dq_brand_ids  bigint[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);

-- Digi-Cadence DQ projects of a business: projects are the time axis, each the survey of one period.
CREATE TABLE watched_dq_projects (
    tenant_id    text   NOT NULL REFERENCES watched_businesses (tenant_id) ON DELETE CASCADE,
    project_id   bigint NOT NULL CHECK (project_id > 0),
    period_start date   NOT NULL,
    PRIMARY KEY (tenant_id, project_id)
);
