"""Column lists of the raw tables, in insert order (pure data; shared by processor and client)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REQUESTS_TABLE = "requests"
VIOLATIONS_TABLE = "violations"
INGEST_LOG_TABLE = "ingest_log"

REQUEST_COLUMNS: tuple[str, ...] = (
    "event_id",
    "schema_version",
    "occurred_at",
    "org_id",
    "workspace_id",
    "repo_id",
    "repo_ai_api_key_id",
    "ai_llm_id",
    "ai_type",
    "model",
    "provider_model",
    "endpoint",
    "stream",
    "status",
    "http_status",
    "error_type",
    "latency_ms",
    "ttft_ms",
    "gateway_overhead_ms",
    "tokens_in",
    "tokens_out",
    "cached_tokens",
    "usage_source",
    "attempt_count",
    "attempt_ai_llm_ids",
    "attempt_statuses",
    "attempt_http_statuses",
    "attempt_latencies_ms",
    "user_id",
    "conversation_id",
    "policy_ids",
    "gateway_id",
    "request_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "price_source",
)

VIOLATION_COLUMNS: tuple[str, ...] = (
    "event_id",
    "schema_version",
    "occurred_at",
    "policy_id",
    "policy_name",
    "org_id",
    "workspace_id",
    "repo_id",
    "repo_ai_api_key_id",
    "ai_llm_id",
    "request_id",
    "gateway_id",
    "severity",
    "action_type",
    "block",
    "explanation",
    "llm_type",
    "llm_model",
    "user_id",
    "conversation_id",
    "llm_tokens_in",
    "llm_tokens_out",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "llm_cost_usd",
)


class ColumnBlock:
    """Rows of one table held column by column (`data[i]` = the values of `names[i]`): what the
    consumer builds and the columnar insert sends, without a per-row object in between."""

    __slots__ = ("names", "data")

    def __init__(self, names: tuple[str, ...], data: list[list[Any]]):
        if len(names) != len(data):
            raise ValueError("one value list per column")
        self.names = names
        self.data = data

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    @classmethod
    def from_rows(cls, names: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> ColumnBlock:
        """Rows (each in `names` order) -> columns."""
        if not rows:
            return cls(names, [[] for _ in names])
        data = [list(c) for c in zip(*rows, strict=True)]
        if len(data) != len(names):
            raise ValueError(f"rows have {len(data)} values, the table {len(names)} columns")
        return cls(names, data)

    def rows(self) -> list[tuple[Any, ...]]:
        """Columns -> rows (tests and small paths; the insert never needs them)."""
        return list(zip(*self.data, strict=True))

    def extend(self, other: ColumnBlock) -> None:
        if other.names != self.names:
            raise ValueError("column blocks of different tables")
        for mine, theirs in zip(self.data, other.data, strict=True):
            mine.extend(theirs)
