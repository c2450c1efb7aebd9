-- Raw event tables. One row per event; no prompt/completion text, no secrets.
-- __RAW_TTL_DAYS__ is replaced by settings.raw_ttl_days (an integer) when applied.
CREATE TABLE IF NOT EXISTS requests
(
    event_id             UUID,
    schema_version       UInt8,
    occurred_at          DateTime64(3, 'UTC'),
    org_id               String,
    workspace_id         String,
    repo_id              String,
    repo_ai_api_key_id   String,
    ai_llm_id            String,
    ai_type              LowCardinality(String),
    model                LowCardinality(String),
    provider_model       LowCardinality(String),
    endpoint             LowCardinality(String),
    stream               Bool,
    status               LowCardinality(String),
    http_status          UInt16,
    error_type           LowCardinality(String),
    latency_ms           Float32,
    ttft_ms              Nullable(Float32),
    gateway_overhead_ms  Float32,
    tokens_in            UInt32,
    tokens_out           UInt32,
    cached_tokens        UInt32,
    usage_source         LowCardinality(String),
    attempt_count        UInt8,
    attempt_ai_llm_ids   Array(String),
    attempt_statuses     Array(LowCardinality(String)),
    attempt_http_statuses Array(UInt16),
    attempt_latencies_ms Array(Float32),
    user_id              String,
    conversation_id      String,
    policy_ids           Array(String),
    gateway_id           LowCardinality(String),
    request_id           String,
    kafka_topic          LowCardinality(String),
    kafka_partition      UInt32,
    kafka_offset         UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (workspace_id, occurred_at, ai_llm_id)
TTL toDateTime(occurred_at) + toIntervalDay(__RAW_TTL_DAYS__)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS violations
(
    event_id             UUID,
    schema_version       UInt8,
    occurred_at          DateTime64(3, 'UTC'),
    policy_id            String,
    policy_name          String,
    org_id               String,
    workspace_id         String,
    repo_id              String,
    repo_ai_api_key_id   String,
    ai_llm_id            String,
    request_id           String,
    gateway_id           LowCardinality(String),
    severity             LowCardinality(String),
    action_type          UInt8,
    block                Bool,
    explanation          String,
    llm_type             LowCardinality(String),
    llm_model            LowCardinality(String),
    user_id              String,
    conversation_id      String,
    llm_tokens_in        UInt32,
    llm_tokens_out       UInt32,
    kafka_topic          LowCardinality(String),
    kafka_partition      UInt32,
    kafka_offset         UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (workspace_id, occurred_at, policy_id)
TTL toDateTime(occurred_at) + toIntervalDay(__RAW_TTL_DAYS__)
SETTINGS non_replicated_deduplication_window = 10000;
