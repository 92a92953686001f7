-- Processors rebuild a series' state after a restart from its stored points, and need to know
-- how many points of the series came before a given instant (the series' position, which the
-- refit schedule and the detector's phase depend on). Points with a NaN or infinite value were
-- never learnt from, so they must not be counted: counting all points is an index-only scan of
-- the primary key, and this small partial index counts the non-finite ones to subtract, so no
-- heap page is read for either count.
CREATE INDEX kpi_points_not_finite ON kpi_points (series_id, ts)
    WHERE NOT (value > '-Infinity'::float8 AND value < 'Infinity'::float8);
