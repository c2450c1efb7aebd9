"""Per-request outcome (mutable while the request runs) -> one `RequestEvent`. Pure.

No prompt or completion text and no secret ever enters the outcome.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from schemas.events import SCHEMA_VERSION, Attempt, RequestEvent, new_event_id
from store.snapshot import KeyEntry


@dataclass(slots=True)
class Outcome:
    request_id: str
    key: KeyEntry
    endpoint: str
    started_wall: float          # time.time() at arrival
    model: str = ""
    provider_model: str = ""
    stream: bool = False
    ai_llm_id: str | None = None
    ai_type: str | None = None
    status: str = "ok"           # ok | error | blocked
    http_status: int = 200
    error_type: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    overhead_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    usage_source: str = "provider"
    attempts: list[Attempt] = field(default_factory=list)
    user_id: str | None = None
    conversation_id: str | None = None
    policy_ids: list[str] = field(default_factory=list)

    def fail(self, http_status: int, error_type: str, status: str = "error") -> None:
        self.status = status
        self.http_status = http_status
        self.error_type = error_type


def _construct(cls, values: dict):
    """Build a pydantic model from values this module made with the right types, skipping
    validation (pydantic's own `model_construct` is slower than validating). Every field is
    given, so the instance is complete; `to_wire()` serializes it like a validated one.
    `tests/gateway/test_units.py` round-trips the result through `RequestEvent.from_wire`."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def make_attempt(ai_llm_id: str, ai_type: str, provider_model: str, status: str,
                 http_status: int | None, error_type: str | None, latency_ms: float) -> Attempt:
    return _construct(Attempt, {
        "ai_llm_id": ai_llm_id, "ai_type": ai_type, "provider_model": provider_model, "status": status,
        "http_status": http_status, "error_type": error_type, "latency_ms": latency_ms,
    })


def build_event(o: Outcome, gateway_id: str) -> RequestEvent:
    """Runs after the response was sent (never adds latency to it)."""
    repo = o.key.repo
    return _construct(RequestEvent, dict(
        event_id=new_event_id(),
        schema_version=SCHEMA_VERSION,
        occurred_at=datetime.fromtimestamp(o.started_wall, timezone.utc),
        gateway_id=gateway_id,
        request_id=o.request_id,
        org_id=repo.org_id,
        workspace_id=repo.workspace_id,
        repo_id=repo.repo_id,
        repo_ai_api_key_id=o.key.key_id,
        ai_llm_id=o.ai_llm_id,
        ai_type=o.ai_type,
        model=o.model,
        provider_model=o.provider_model,
        endpoint=o.endpoint,
        stream=o.stream,
        status=o.status,
        http_status=o.http_status,
        error_type=o.error_type,
        latency_ms=round(o.latency_ms, 3),
        ttft_ms=None if o.ttft_ms is None else round(o.ttft_ms, 3),
        gateway_overhead_ms=round(max(o.overhead_ms, 0.0), 3),
        tokens_in=max(int(o.tokens_in), 0),
        tokens_out=max(int(o.tokens_out), 0),
        cached_tokens=max(int(o.cached_tokens), 0),
        usage_source=o.usage_source,
        attempts=o.attempts,
        user_id=o.user_id,
        conversation_id=o.conversation_id,
        policy_ids=list(o.policy_ids),
    ))
