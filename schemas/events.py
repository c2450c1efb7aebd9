"""Event models: the Kafka wire format (camelCase JSON, versioned).

Unknown future fields are tolerated (`extra="ignore"`); malformed events raise
`pydantic.ValidationError`, which consumers turn into a dead letter with the reason.
No prompt or completion text and no secret is ever in a request event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Self, get_args

import uuid_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

SCHEMA_VERSION = 1


def new_event_id() -> str:
    """UUIDv7: time-ordered, made once where the event happens."""
    return str(uuid_utils.uuid7())


def utcnow() -> datetime:
    return datetime.now(UTC)


TIME_FIELDS = ("occurred_at", "until")  # every datetime field of every event model


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=False)

    def to_wire(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_wire(cls, data: bytes | str | dict[str, Any]) -> Self:
        if isinstance(data, dict):
            return cls.model_validate(data)
        return cls.model_validate_json(data)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, f in cls.model_fields.items():
            ann = f.annotation
            if (ann is datetime or datetime in get_args(ann)) and name not in TIME_FIELDS:
                raise TypeError(f"{cls.__name__}.{name}: list it in TIME_FIELDS (UTC check)")

    # Only the datetime fields (named in TIME_FIELDS): a "*" validator is a Python call per
    # field per event and was the metering consumer's main decode cost (~2.5x slower).
    @field_validator(*TIME_FIELDS, mode="after", check_fields=False)
    @classmethod
    def _utc(cls, v: Any) -> Any:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError("timestamps must carry a UTC offset")
            return v.astimezone(UTC)
        return v


class EventEnvelope(WireModel):
    """The fields every versioned event starts with (first on the wire, in this order)."""

    event_id: str = Field(default_factory=new_event_id)
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)


class Attempt(WireModel):
    """One try against one configuration (fallback records every attempt)."""

    ai_llm_id: str
    ai_type: str
    provider_model: str
    status: Literal["ok", "error"]
    http_status: int | None = None
    error_type: str | None = None
    latency_ms: float = 0.0


class RequestEvent(EventEnvelope):
    """One per completed gateway request (exactly once)."""

    gateway_id: str
    request_id: str
    org_id: str
    workspace_id: str
    repo_id: str
    repo_ai_api_key_id: str
    ai_llm_id: str | None = None  # config that finally served (or last tried)
    ai_type: str | None = None
    model: str = ""  # as the client asked
    provider_model: str = ""  # as sent to the provider
    endpoint: str = "chat"  # the surface: chat|embeddings|responses|messages[.count_tokens]|models
    stream: bool = False
    status: Literal["ok", "error", "blocked"] = "ok"
    http_status: int = 200
    error_type: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    gateway_overhead_ms: float = 0.0
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)  # = cacheReadTokens (kept for older readers)
    usage_source: Literal["provider", "estimated"] = "provider"
    # money: tokensIn includes cache reads and writes, tokensOut includes reasoning
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    cost_usd: str | None = None  # decimal string (USD); None when no price is known, never "0"
    price_source: str = "unknown"  # table:<version> | override | unknown
    attempts: list[Attempt] = Field(default_factory=list)
    user_id: str | None = None
    conversation_id: str | None = None
    policy_ids: list[str] = Field(default_factory=list)  # policies that fired on this request


class ViolationEvent(EventEnvelope):
    """A policy fired (log, alert or block). Alerts are violations with actionType 1."""

    policy_id: str
    policy_name: str
    org_id: str
    workspace_id: str | None = None
    repo_id: str | None = None
    repo_ai_api_key_id: str | None = None
    ai_llm_id: str | None = None
    request_id: str | None = None
    gateway_id: str | None = None  # "host" in the API
    severity: Literal["LOW", "MEDIUM", "HIGH"] = "MEDIUM"
    action_type: int = Field(default=0, ge=0, le=2)
    block: bool = False
    explanation: str = ""
    llm_type: str | None = None
    llm_model: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    llm_tokens_in: int = Field(default=0, ge=0)  # judge tokens
    llm_tokens_out: int = Field(default=0, ge=0)
    llm_cost_usd: str | None = None  # the judge call's price (decimal USD; None: unknown or no call)
    llm_price_source: str = "unknown"


class Decision(WireModel):
    """Enforcement state for a subject (compacted topic, key = subject)."""

    subject: str  # e.g. "KEY:<id>", "REPO:<id>", "WORKSPACE:<id>" + ":" + policyId
    policy_id: str
    policy_name: str = ""
    blocked: bool
    until: datetime | None = None  # when the window rolls over
    reason: str = ""
    limit: int | None = None
    used: int | None = None
    # token budgets: the window's tokens per request-event `gatewayId` (sums to `used`), so a
    # gateway can tell its own usage from others' without counting it twice
    used_by: dict[str, int] | None = None
    occurred_at: datetime = Field(default_factory=utcnow)


class DeadLetter(WireModel):
    topic: str
    partition: int
    offset: int
    reason: str
    payload: str  # the original bytes, decoded with errors="replace"
    occurred_at: datetime = Field(default_factory=utcnow)


class PromptEvent(EventEnvelope):
    """A request's prompt text for asynchronous LLM judging (topic `tollgate.prompts.v1`, short
    retention). Emitted by a gateway only when a log/alert natural-language policy applies;
    `policyIds` names those policies. Carries prompt text (by design) but never a secret."""

    gateway_id: str
    request_id: str
    org_id: str
    workspace_id: str
    repo_id: str
    repo_ai_api_key_id: str
    ai_llm_id: str | None = None  # the configuration the request was routed to (first choice)
    ai_type: str | None = None
    model: str = ""
    policy_ids: list[str] = Field(default_factory=list)
    texts: list[str] = Field(default_factory=list)
    user_id: str | None = None
    conversation_id: str | None = None
