-- Money: each request's cost (Decimal USD, exact: never a float), its price source, and the
-- cache-read / cache-write / reasoning token counts; the rollups sum them, count the requests
-- whose price is unknown (cost NULL with tokens: shown as unknown, never as $0), and count the
-- requests a limit refused (a budget or rate limit publishes no violation per refused request),
-- on the configuration the request would have used. The policy judge's own calls are priced on
-- violation events (`llm_cost_usd`, beside `llm_tokens_in/out`).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS cache_read_tokens UInt32 DEFAULT cached_tokens;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS cache_write_tokens UInt32 DEFAULT 0;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS reasoning_tokens UInt32 DEFAULT 0;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS cost_usd Nullable(Decimal(38, 12));
ALTER TABLE requests ADD COLUMN IF NOT EXISTS price_source LowCardinality(String) DEFAULT 'unknown';
ALTER TABLE violations ADD COLUMN IF NOT EXISTS llm_cost_usd Nullable(Decimal(38, 12));

ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS cache_write_tokens UInt64 DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS reasoning_tokens UInt64 DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS cost_usd Decimal(38, 12) DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS unpriced_calls UInt64 DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS limit_blocks UInt64 DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN IF NOT EXISTS llm_cost_usd Decimal(38, 12) DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS cache_write_tokens UInt64 DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS reasoning_tokens UInt64 DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS cost_usd Decimal(38, 12) DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS unpriced_calls UInt64 DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS limit_blocks UInt64 DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS llm_cost_usd Decimal(38, 12) DEFAULT 0;

-- The views that feed the new columns are replaced (same names, same targets). Model names in
-- the rollups become the provider's model (what the gateway sent), so `claude-x` and
-- `anthropic/claude-x` are one model in /aistats; the name as the client asked stays in
-- `requests.model` (violations carry it without a provider alias prefix). Columns named
-- like an output alias are qualified (`requests.x`): unqualified they would mean the aggregate.
DROP VIEW IF EXISTS usage_minute_from_requests;
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_from_requests TO usage_minute AS
SELECT
    toStartOfMinute(occurred_at)          AS bucket,
    workspace_id,
    ai_llm_id,
    repo_id,
    repo_ai_api_key_id,
    if(provider_model != '', provider_model, model) AS llm_model,
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
    quantileTDigestState(latency_ms)      AS latency_digest,
    sum(cache_write_tokens)               AS cache_write_tokens,
    sum(reasoning_tokens)                 AS reasoning_tokens,
    sum(ifNull(requests.cost_usd, toDecimal128(0, 12))) AS cost_usd,
    countIf(requests.cost_usd IS NULL AND requests.tokens_in + requests.tokens_out > 0) AS unpriced_calls,
    countIf(status = 'blocked' AND http_status = 429) AS limit_blocks
FROM requests
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;

DROP VIEW IF EXISTS usage_minute_from_violations;
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
    quantileTDigestStateIf(toFloat32(0), 0) AS latency_digest,
    sum(ifNull(violations.llm_cost_usd, toDecimal128(0, 12))) AS llm_cost_usd
FROM violations
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;

DROP VIEW IF EXISTS usage_daily_from_minute;
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
    quantileTDigestMergeState(latency_digest) AS latency_digest,
    sum(cache_write_tokens)               AS cache_write_tokens,
    sum(reasoning_tokens)                 AS reasoning_tokens,
    sum(cost_usd)                         AS cost_usd,
    sum(unpriced_calls)                   AS unpriced_calls,
    sum(limit_blocks)                     AS limit_blocks,
    sum(llm_cost_usd)                     AS llm_cost_usd
FROM usage_minute
GROUP BY bucket, workspace_id, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host;
