-- Places looked up by name (`signalcraft watch add --place`), kept for good: GeoNames' free tier
-- allows 1,000 requests an hour, and a place does not move, so a query asked once is never sent
-- again. `query` is the normalised text asked (lower case, single spaces, `|` and the ISO country
-- code if one was given); `candidates` are the places the answer listed, as read from it (name,
-- region, country, coordinates, population, feature class), in the answer's order. An empty
-- array: GeoNames knew no such place. Operator data: the reader role is granted nothing here.
CREATE TABLE geocoding_cache (
    query         text        PRIMARY KEY CHECK (char_length(query) BETWEEN 1 AND 300),
    total_results bigint      NOT NULL CHECK (total_results >= 0),
    candidates    jsonb       NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
    fetched_at    timestamptz NOT NULL DEFAULT now()
);
