-- When each ingest source last delivered a poll in full (every record acknowledged by the
-- broker), so `signalcraft status` can say how stale each upstream is from any machine, across
-- restarts, whichever ingest process ran it. The gauge
-- `signalcraft_source_last_success_timestamp_seconds` says the same for one running process.
-- Operator data: the reader role gets nothing.
CREATE TABLE source_status (
    source          text        PRIMARY KEY,
    last_success_at timestamptz NOT NULL,
    -- Records that poll delivered (0 is a success: the upstream had nothing new).
    last_records    bigint      NOT NULL CHECK (last_records >= 0)
);
