"""Kafka topic names (contract: Events)."""

REQUESTS = "tollgate.requests.v1"  # key: repository API key id
VIOLATIONS = "tollgate.violations.v1"  # key: policy id
DECISIONS = "tollgate.decisions.v1"  # compacted, key: subject
DLQ = "tollgate.dlq.v1"  # key: original topic; value: DeadLetter
PROMPTS = "tollgate.prompts.v1"  # short retention; only for async NL policies

ALL = (REQUESTS, VIOLATIONS, DECISIONS, DLQ, PROMPTS)

# Topic-level configs the policy parts create their topics with (others use broker defaults).
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DECISIONS: {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"},
    PROMPTS: {"retention.ms": "3600000"},  # prompt text is kept one hour at most
}
