-- Processors rebuild a series' state after a restart from its stored points: per series, how
-- many finite points came before an instant (its position in the series, which the refit
-- schedule and the detector's phase depend on) and the last few thousand of them. Only finite
-- values were ever learnt from, hence the predicate; the covered value makes both look-ups
-- index-only, so a rebuild reads a few leaf pages instead of one heap page per point (a series'
-- rows are spread over the heap, interleaved with every other series').
-- Measured on 2.6M rows (200 hourly series): 100 series at the detector's full depth in about
-- 1 s server time, one series in 15-40 ms. The price is a second index on the table the sink
-- writes most, about the size of the primary key.
CREATE INDEX kpi_points_finite_values ON kpi_points (series_id, ts) INCLUDE (value)
    WHERE value > '-Infinity'::float8 AND value < 'Infinity'::float8;
