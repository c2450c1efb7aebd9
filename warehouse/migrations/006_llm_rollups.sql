-- Totals per configuration per hour and per day: what `/ai/llm/stats` sums. One row per
-- (workspace, config, hour|day) once merged, instead of the rollups' rows per repo, key, model
-- and host: a year of history is ~365 day rows plus 24 hour rows per configuration. Fed from
-- usage_minute (violations included), usage_llm_daily from usage_llm_hourly. The backfill reads
-- usage_minute (not the raw tables, whose TTL may have dropped old events), so an upgrade keeps
-- the whole history, and reaches usage_llm_daily through its view. The views are created before
-- the backfill: an insert that lands after the backfill's snapshot is counted by the views
-- alone. Run the migration before the metering consumers write (`tollgate up` and
-- `tollgate migrate` do); the backfill carries a dedup token, so a second process applying the
-- migration at the same time adds nothing.
CREATE TABLE IF NOT EXISTS usage_llm_hourly
(
    bucket               DateTime('UTC'),
    workspace_id         String,
    ai_llm_id            String,
    api_calls            UInt64,
    errors               UInt64,
    blocked_requests     UInt64,
    tokens_in            UInt64,
    tokens_out           UInt64,
    cached_tokens        UInt64,
    cache_write_tokens   UInt64,
    reasoning_tokens     UInt64,
    llm_tokens_in        UInt64,
    llm_tokens_out       UInt64,
    policy_violations    UInt64,
    num_alerts           UInt64,
    num_blocks           UInt64,
    num_severity_low     UInt64,
    num_severity_medium  UInt64,
    num_severity_high    UInt64,
    latency_ms_sum       Float64,
    cost_usd             Decimal(38, 12),
    unpriced_calls       UInt64,
    limit_blocks         UInt64,
    llm_cost_usd         Decimal(38, 12)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (workspace_id, ai_llm_id, bucket)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS usage_llm_daily
(
    bucket               Date,
    workspace_id         String,
    ai_llm_id            String,
    api_calls            UInt64,
    errors               UInt64,
    blocked_requests     UInt64,
    tokens_in            UInt64,
    tokens_out           UInt64,
    cached_tokens        UInt64,
    cache_write_tokens   UInt64,
    reasoning_tokens     UInt64,
    llm_tokens_in        UInt64,
    llm_tokens_out       UInt64,
    policy_violations    UInt64,
    num_alerts           UInt64,
    num_blocks           UInt64,
    num_severity_low     UInt64,
    num_severity_medium  UInt64,
    num_severity_high    UInt64,
    latency_ms_sum       Float64,
    cost_usd             Decimal(38, 12),
    unpriced_calls       UInt64,
    limit_blocks         UInt64,
    llm_cost_usd         Decimal(38, 12)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (workspace_id, ai_llm_id, bucket)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_llm_daily_from_hourly TO usage_llm_daily AS
SELECT
    toDate(bucket)                        AS bucket,
    workspace_id,
    ai_llm_id,
    sum(api_calls)                        AS api_calls,
    sum(errors)                           AS errors,
    sum(blocked_requests)                 AS blocked_requests,
    sum(tokens_in)                        AS tokens_in,
    sum(tokens_out)                       AS tokens_out,
    sum(cached_tokens)                    AS cached_tokens,
    sum(cache_write_tokens)               AS cache_write_tokens,
    sum(reasoning_tokens)                 AS reasoning_tokens,
    sum(llm_tokens_in)                    AS llm_tokens_in,
    sum(llm_tokens_out)                   AS llm_tokens_out,
    sum(policy_violations)                AS policy_violations,
    sum(num_alerts)                       AS num_alerts,
    sum(num_blocks)                       AS num_blocks,
    sum(num_severity_low)                 AS num_severity_low,
    sum(num_severity_medium)              AS num_severity_medium,
    sum(num_severity_high)                AS num_severity_high,
    sum(latency_ms_sum)                   AS latency_ms_sum,
    sum(cost_usd)                         AS cost_usd,
    sum(unpriced_calls)                   AS unpriced_calls,
    sum(limit_blocks)                     AS limit_blocks,
    sum(llm_cost_usd)                     AS llm_cost_usd
FROM usage_llm_hourly
GROUP BY bucket, workspace_id, ai_llm_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_llm_hourly_from_minute TO usage_llm_hourly AS
SELECT
    toStartOfHour(bucket)                 AS bucket,
    workspace_id,
    ai_llm_id,
    sum(api_calls)                        AS api_calls,
    sum(errors)                           AS errors,
    sum(blocked_requests)                 AS blocked_requests,
    sum(tokens_in)                        AS tokens_in,
    sum(tokens_out)                       AS tokens_out,
    sum(cached_tokens)                    AS cached_tokens,
    sum(cache_write_tokens)               AS cache_write_tokens,
    sum(reasoning_tokens)                 AS reasoning_tokens,
    sum(llm_tokens_in)                    AS llm_tokens_in,
    sum(llm_tokens_out)                   AS llm_tokens_out,
    sum(policy_violations)                AS policy_violations,
    sum(num_alerts)                       AS num_alerts,
    sum(num_blocks)                       AS num_blocks,
    sum(num_severity_low)                 AS num_severity_low,
    sum(num_severity_medium)              AS num_severity_medium,
    sum(num_severity_high)                AS num_severity_high,
    sum(latency_ms_sum)                   AS latency_ms_sum,
    sum(cost_usd)                         AS cost_usd,
    sum(unpriced_calls)                   AS unpriced_calls,
    sum(limit_blocks)                     AS limit_blocks,
    sum(llm_cost_usd)                     AS llm_cost_usd
FROM usage_minute
GROUP BY bucket, workspace_id, ai_llm_id;

INSERT INTO usage_llm_hourly (bucket, workspace_id, ai_llm_id, api_calls, errors, blocked_requests,
    tokens_in, tokens_out, cached_tokens, cache_write_tokens, reasoning_tokens, llm_tokens_in,
    llm_tokens_out, policy_violations, num_alerts, num_blocks, num_severity_low, num_severity_medium,
    num_severity_high, latency_ms_sum, cost_usd, unpriced_calls, limit_blocks, llm_cost_usd)
SETTINGS insert_deduplication_token = 'migration-006-usage-llm-backfill',
    deduplicate_blocks_in_dependent_materialized_views = 1
SELECT
    toStartOfHour(bucket) AS hour, workspace_id, ai_llm_id, sum(api_calls), sum(errors),
    sum(blocked_requests), sum(tokens_in), sum(tokens_out), sum(cached_tokens),
    sum(cache_write_tokens), sum(reasoning_tokens), sum(llm_tokens_in), sum(llm_tokens_out),
    sum(policy_violations), sum(num_alerts), sum(num_blocks), sum(num_severity_low),
    sum(num_severity_medium), sum(num_severity_high), sum(latency_ms_sum), sum(cost_usd),
    sum(unpriced_calls), sum(limit_blocks), sum(llm_cost_usd)
FROM usage_minute
GROUP BY hour, workspace_id, ai_llm_id;
