-- Write-ahead ingest log of the metering consumer: one row per (topic, partition) slice,
-- written BEFORE the slice's rows are inserted. The latest row per partition names the only
-- slice that may be partially applied; the consumer replays exactly that slice (same offsets,
-- same dedup token) before anything newer, and drops records below it.
CREATE TABLE IF NOT EXISTS ingest_log
(
    topic         LowCardinality(String),
    partition     UInt32,
    first_offset  UInt64,
    last_offset   UInt64,
    token         String,
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(last_offset)
ORDER BY (topic, partition);
