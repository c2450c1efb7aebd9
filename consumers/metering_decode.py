"""Pure: request-event records -> `requests` columns, decoded with msgspec (the hot path).

The metering consumer's per-event CPU is spent here, so request events are decoded with a
msgspec mirror of `schemas.events.RequestEvent` (same camelCase names, same defaults) whose
constraints are at least as strict as the reference path (`metering.request_row` over the
pydantic model plus the table-range checks). Anything the mirror refuses is judged again by the
reference path, which then either accepts it (pydantic's lax coercions, snake_case names) with
the same row, or dead-letters it with the same reason. So the outcome of every record is the
reference path's; only the cost differs (`tests/consumers/test_metering_decode.py` checks
both on valid and malformed events).

Rows are not built: values go straight into one list per column (`ColumnBlock`), which is what
the columnar insert sends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from schemas.events import SCHEMA_VERSION, DeadLetter, new_event_id, utcnow
from schemas.records import Record
from warehouse.tables import REQUEST_COLUMNS, ColumnBlock

_U8, _U16, _U32 = 255, 65535, 2**32 - 1
_MIN_TIME = datetime(1970, 1, 2, tzinfo=UTC)
_MAX_TIME = datetime(2105, 12, 31, tzinfo=UTC)
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
COST_PATTERN = r"^[0-9]{1,26}(\.[0-9]{1,12})?$"

U8 = Annotated[int, msgspec.Meta(ge=0, le=_U8)]
U16 = Annotated[int, msgspec.Meta(ge=0, le=_U16)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=_U32)]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
EventId = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN)]
Cost = Annotated[str, msgspec.Meta(pattern=COST_PATTERN)]


class AttemptWire(msgspec.Struct, rename="camel", kw_only=True):
    """Mirror of `schemas.events.Attempt` (the table keeps http_status as UInt16)."""

    ai_llm_id: str
    ai_type: str
    provider_model: str
    status: Literal["ok", "error"]
    http_status: U16 | None = None
    error_type: str | None = None
    latency_ms: float = 0.0


class RequestWire(msgspec.Struct, rename="camel", kw_only=True):
    """Mirror of `schemas.events.RequestEvent`, with the table's ranges as constraints."""

    event_id: EventId = msgspec.field(default_factory=new_event_id)
    schema_version: U8 = SCHEMA_VERSION
    occurred_at: UtcTime = msgspec.field(default_factory=utcnow)
    gateway_id: str
    request_id: str
    org_id: str
    workspace_id: str
    repo_id: str
    repo_ai_api_key_id: str
    ai_llm_id: str | None = None
    ai_type: str | None = None
    model: str = ""
    provider_model: str = ""
    endpoint: str = "chat"
    stream: bool = False
    status: Literal["ok", "error", "blocked"] = "ok"
    http_status: U16 = 200
    error_type: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    gateway_overhead_ms: float = 0.0
    tokens_in: U32 = 0
    tokens_out: U32 = 0
    cached_tokens: U32 = 0
    usage_source: Literal["provider", "estimated"] = "provider"
    cache_read_tokens: U32 = 0
    cache_write_tokens: U32 = 0
    reasoning_tokens: U32 = 0
    cost_usd: Cost | None = None
    price_source: str = "unknown"
    attempts: list[AttemptWire] = msgspec.field(default_factory=list)
    user_id: str | None = None
    conversation_id: str | None = None
    policy_ids: list[str] = msgspec.field(default_factory=list)


_decode_request = msgspec.json.Decoder(RequestWire).decode
_FAST_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, OverflowError, ValueError)

# The reference path: one record -> ("requests", row) | ("dead", DeadLetter). Injected by
# `metering` (which owns it) so this module stays free of pydantic.
Fallback = Callable[[Record], tuple[str, Any]]


def request_columns(records: Sequence[Record], fallback: Fallback) -> tuple[ColumnBlock, list[DeadLetter]]:
    """Pure: request-topic records -> (columns of the `requests` rows, dead letters).
    Never raises on bad input. Column order = `warehouse.tables.REQUEST_COLUMNS`."""
    cols: list[list[Any]] = [[] for _ in REQUEST_COLUMNS]
    (
        c_event_id,
        c_schema_version,
        c_occurred_at,
        c_org_id,
        c_workspace_id,
        c_repo_id,
        c_key_id,
        c_ai_llm_id,
        c_ai_type,
        c_model,
        c_provider_model,
        c_endpoint,
        c_stream,
        c_status,
        c_http_status,
        c_error_type,
        c_latency_ms,
        c_ttft_ms,
        c_overhead_ms,
        c_tokens_in,
        c_tokens_out,
        c_cached_tokens,
        c_usage_source,
        c_attempt_count,
        c_att_llm_ids,
        c_att_statuses,
        c_att_http,
        c_att_latency,
        c_user_id,
        c_conversation_id,
        c_policy_ids,
        c_gateway_id,
        c_request_id,
        c_topic,
        c_partition,
        c_offset,
        c_cache_read,
        c_cache_write,
        c_reasoning,
        c_cost,
        c_price_source,
    ) = (c.append for c in cols)
    dead: list[DeadLetter] = []
    decode = _decode_request
    for rec in records:
        try:
            e = decode(rec.value)
            t = e.occurred_at
            if t.tzinfo is not UTC:
                t = t.astimezone(UTC)
            if not (_MIN_TIME <= t <= _MAX_TIME):
                raise ValueError("occurredAt is out of range")
        except _FAST_ERRORS:
            kind, item = fallback(rec)
            if kind == "requests":
                for col, v in zip(cols, item, strict=True):
                    col.append(v)
            else:
                dead.append(item)
            continue
        att = e.attempts
        if len(att) > 255:
            att = att[:255]
        c_event_id(e.event_id)
        c_schema_version(e.schema_version)
        c_occurred_at(t)
        c_org_id(e.org_id)
        c_workspace_id(e.workspace_id)
        c_repo_id(e.repo_id)
        c_key_id(e.repo_ai_api_key_id)
        c_ai_llm_id(e.ai_llm_id or "")
        c_ai_type(e.ai_type or "")
        c_model(e.model)
        c_provider_model(e.provider_model)
        c_endpoint(e.endpoint)
        c_stream(e.stream)
        c_status(e.status)
        c_http_status(e.http_status)
        c_error_type(e.error_type or "")
        c_latency_ms(e.latency_ms)
        c_ttft_ms(e.ttft_ms)
        c_overhead_ms(e.gateway_overhead_ms)
        c_tokens_in(e.tokens_in)
        c_tokens_out(e.tokens_out)
        c_cached_tokens(e.cached_tokens)
        c_usage_source(e.usage_source)
        c_attempt_count(len(att))
        if att:
            c_att_llm_ids([a.ai_llm_id for a in att])
            c_att_statuses([a.status for a in att])
            c_att_http([a.http_status or 0 for a in att])
            c_att_latency([a.latency_ms for a in att])
        else:
            c_att_llm_ids([])
            c_att_statuses([])
            c_att_http([])
            c_att_latency([])
        c_user_id(e.user_id or "")
        c_conversation_id(e.conversation_id or "")
        c_policy_ids(e.policy_ids)
        c_gateway_id(e.gateway_id)
        c_request_id(e.request_id)
        c_topic(rec.topic)
        c_partition(rec.partition)
        c_offset(rec.offset)
        c_cache_read(e.cache_read_tokens or e.cached_tokens)
        c_cache_write(e.cache_write_tokens)
        c_reasoning(e.reasoning_tokens)
        c_cost(e.cost_usd)
        ps = e.price_source
        c_price_source(ps if len(ps) <= 64 else ps[:64])
    return ColumnBlock(REQUEST_COLUMNS, cols), dead
