-- Offsets belong to one Kafka cluster: the same topic on another cluster (a recreated
-- embedded broker, a migration) starts again at 0, and offsets stored for the old one must
-- neither seek nor fence it. Rows written before this column existed keep ''.
ALTER TABLE sink_offsets ADD COLUMN cluster_id text NOT NULL DEFAULT '';
