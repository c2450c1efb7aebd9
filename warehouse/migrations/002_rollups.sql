-- Minute and day rollups. Stats queries read only these (with sum()/GROUP BY: merges are lazy).
-- Requests and violations both feed usage_minute; usage_daily is fed from usage_minute.
CREATE TABLE IF NOT EXISTS usage_minute
(
    bucket               DateTime('UTC'),
    workspace_id         String,
    ai_llm_id            String,
    repo_id              String,
    repo_ai_api_key_id   String,
    llm_model            LowCardinality(String),
    llm_type             LowCardinality(String),
    host                 LowCardinality(String),
    api_calls            UInt64,
    errors               UInt64,
    blocked_requests     UInt64,
    tokens_in            UInt64,
    tokens_out           UInt64,
    cached_tokens        UInt64,
    llm_tokens_in        UInt64,
    llm_tokens_out       UInt64,
    policy_violations    UInt64,
    num_alerts           UInt64,
    num_blocks           UInt64,
    num_severity_low     UInt64,
    num_severity_medium  UInt64,
    num_severity_high    UInt64,
    latency_ms_sum       Float64,
    latency_digest       AggregateFunction(quantileTDigest, Float32)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (workspace_id, bucket, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS usage_daily
(
    bucket               Date,
    workspace_id         String,
    ai_llm_id            String,
    repo_id              String,
    repo_ai_api_key_id   String,
    llm_model            LowCardinality(String),
    llm_type             LowCardinality(String),
    host                 LowCardinality(String),
    api_calls            UInt64,
    errors               UInt64,
    blocked_requests     UInt64,
    tokens_in            UInt64,
    tokens_out           UInt64,
    cached_tokens        UInt64,
    llm_tokens_in        UInt64,
    llm_tokens_out       UInt64,
    policy_violations    UInt64,
    num_alerts           UInt64,
    num_blocks           UInt64,
    num_severity_low     UInt64,
    num_severity_medium  UInt64,
    num_severity_high    UInt64,
    latency_ms_sum       Float64,
    latency_digest       AggregateFunction(quantileTDigest, Float32)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (workspace_id, bucket, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_from_requests TO usage_minute AS
SELECT
    toStartOfMinute(occurred_at)          AS bucket,
    workspace_id,
    ai_llm_id,
    repo_id,
    repo_ai_api_key_id,
    model                                 AS llm_model,
    ai_type                               AS llm_type,
    gateway_id                            AS host,
    count()                               AS api_calls,
    countIf(status = 'error')             AS errors,
    countIf(status = 'blocked')           AS blocked_requests,
    sum(tokens_in)                        AS tokens_in,
    sum(tokens_out)                       AS tokens_out,
    sum(cached_tokens)                    AS cached_tokens,
    toUInt64(0)                           AS llm_tokens_in,
    toUInt64(0)                           AS llm_tokens_out,
    toUInt64(0)                           AS policy_violations,
    toUInt64(0)                           AS num_alerts,
    toUInt64(0)                           AS num_blocks,
    toUInt64(0)                           AS num_severity_low,
    toUInt64(0)                           AS num_severity_medium,
    toUInt64(0)                           AS num_severity_high,
    sum(toFloat64(latency_ms))            AS latency_ms_sum,
    quantileTDigestState(latency_ms)      AS latency_digest
FROM requests
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_from_violations TO usage_minute AS
SELECT
    toStartOfMinute(occurred_at)          AS bucket,
    workspace_id,
    ai_llm_id,
    repo_id,
    repo_ai_api_key_id,
    llm_model,
    llm_type,
    gateway_id                            AS host,
    toUInt64(0)                           AS api_calls,
    toUInt64(0)                           AS errors,
    toUInt64(0)                           AS blocked_requests,
    toUInt64(0)                           AS tokens_in,
    toUInt64(0)                           AS tokens_out,
    toUInt64(0)                           AS cached_tokens,
    sum(llm_tokens_in)                    AS llm_tokens_in,
    sum(llm_tokens_out)                   AS llm_tokens_out,
    count()                               AS policy_violations,
    countIf(action_type = 1)              AS num_alerts,
    countIf(block OR action_type = 2)     AS num_blocks,
    countIf(severity = 'LOW')             AS num_severity_low,
    countIf(severity = 'MEDIUM')          AS num_severity_medium,
    countIf(severity = 'HIGH')            AS num_severity_high,
    toFloat64(0)                          AS latency_ms_sum,
    quantileTDigestStateIf(toFloat32(0), 0) AS latency_digest
FROM violations
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_from_minute TO usage_daily AS
SELECT
    toDate(bucket)                        AS bucket,
    workspace_id,
    ai_llm_id,
    repo_id,
    repo_ai_api_key_id,
    llm_model,
    llm_type,
    host,
    sum(api_calls)                        AS api_calls,
    sum(errors)                           AS errors,
    sum(blocked_requests)                 AS blocked_requests,
    sum(tokens_in)                        AS tokens_in,
    sum(tokens_out)                       AS tokens_out,
    sum(cached_tokens)                    AS cached_tokens,
    sum(llm_tokens_in)                    AS llm_tokens_in,
    sum(llm_tokens_out)                   AS llm_tokens_out,
    sum(policy_violations)                AS policy_violations,
    sum(num_alerts)                       AS num_alerts,
    sum(num_blocks)                       AS num_blocks,
    sum(num_severity_low)                 AS num_severity_low,
    sum(num_severity_medium)              AS num_severity_medium,
    sum(num_severity_high)                AS num_severity_high,
    sum(latency_ms_sum)                   AS latency_ms_sum,
    quantileTDigestMergeState(latency_digest) AS latency_digest
FROM usage_minute
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;
