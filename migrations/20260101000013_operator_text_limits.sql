-- Limits on what operators store in alert_rules and the watch list. `signalcraft rules add` and
-- `watch add` check the same limits first, with messages naming the option; these constraints
-- stop a hand-written INSERT. NOT VALID: rows stored before this migration stay (the loaders
-- skip a rule they cannot use, with a warning); every new or updated row is checked.
ALTER TABLE alert_rules
    ADD CONSTRAINT alert_rules_duration_bounded CHECK (duration_secs <= 31622400) NOT VALID,
    ADD CONSTRAINT alert_rules_name_length CHECK (char_length(name) <= 200) NOT VALID,
    ADD CONSTRAINT alert_rules_pattern_length CHECK (char_length(series_pattern) <= 512) NOT VALID;

-- Whether every element of `texts` is at most `max_chars` characters long (CHECKs cannot hold
-- subqueries; an immutable function can).
CREATE FUNCTION signalcraft_texts_within(texts text[], max_chars integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(bool_and(char_length(t) <= max_chars), true) FROM unnest(texts) AS t $$;

ALTER TABLE watched_businesses
    ADD CONSTRAINT watched_businesses_name_length CHECK (char_length(name) <= 200) NOT VALID,
    ADD CONSTRAINT watched_businesses_queries_bounded
        CHECK (cardinality(gdelt_queries) <= 20 AND signalcraft_texts_within(gdelt_queries, 500)) NOT VALID;
