-- Where each ingest query left off, so a restart neither misses nor repeats upstream data:
-- per (source, query key) the latest event time emitted and the ids emitted at exactly that
-- time (GDELT's startdatetime is inclusive; those come back and are dropped).
CREATE TABLE ingest_high_water_marks (
    source     text        NOT NULL,
    key        text        NOT NULL,
    seen_at    timestamptz NOT NULL,
    ids        text[]      NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, key)
);
