"""The request record (mutable while the request runs) -> one `RequestEvent`. Pure.

Everything the event says is gathered on one `RequestRecord`: identity, routing, timing
(including time spent waiting on providers), attempts, usage and the final status.
`build_event` is the only place a `RequestEvent` is made. No prompt or completion text and no
secret ever enters the record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from pricing.pricer import price
from pricing.rates import TokenCounts, format_usd
from schemas.events import SCHEMA_VERSION, Attempt, RequestEvent, new_event_id
from store.snapshot import KeyEntry

_perf = time.perf_counter


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    key: KeyEntry
    endpoint: str
    started_wall: float  # time.time() at arrival
    started: float = field(default_factory=_perf)  # perf_counter() at arrival
    upstream_ms: float = 0.0  # time spent waiting on providers (excluded from overhead)
    model: str = ""
    provider_model: str = ""
    stream: bool = False
    ai_llm_id: str | None = None
    ai_type: str | None = None
    status: str = "ok"  # ok | error | blocked
    http_status: int = 200
    error_type: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    overhead_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_source: str = "provider"
    prices: Any = None  # the serving configuration's price overrides (PriceOverrides)
    cost: Any = None  # pricing.pricer.Price, set by `priced()`
    attempts: list[Attempt] = field(default_factory=list)
    user_id: str | None = None
    conversation_id: str | None = None
    policy_ids: list[str] = field(default_factory=list)

    def fail(self, http_status: int, error_type: str, status: str = "error") -> None:
        self.status = status
        self.http_status = http_status
        self.error_type = error_type

    def elapsed_ms(self) -> float:
        return (_perf() - self.started) * 1000.0

    def waited(self, since: float) -> float:
        """Count the provider wait since `since` (a perf_counter value); returns it in ms."""
        dt = (_perf() - since) * 1000.0
        self.upstream_ms += dt
        return dt

    def mark_overhead(self) -> float:
        """The gateway's own time so far (elapsed minus provider waits), kept and returned."""
        self.overhead_ms = self.elapsed_ms() - self.upstream_ms
        return self.overhead_ms

    def mark_first_byte(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()

    def attempted(
        self,
        ai_llm_id: str,
        ai_type: str,
        provider_model: str,
        status: str,
        http_status: int | None,
        error_type: str | None,
        latency_ms: float,
    ) -> None:
        """One provider attempt; the record names the last config tried."""
        self.attempts.append(
            make_attempt(ai_llm_id, ai_type, provider_model, status, http_status, error_type, round(latency_ms, 3))
        )
        self.ai_llm_id, self.ai_type, self.provider_model = ai_llm_id, ai_type, provider_model

    def used(self, usage: Any) -> None:
        """Provider-reported usage (a `producers.adapters.base.Usage`)."""
        self.tokens_in, self.tokens_out = usage.tokens_in, usage.tokens_out
        self.cached_tokens = getattr(usage, "cached_tokens", 0) or 0
        self.cache_write_tokens = getattr(usage, "cache_write", 0) or 0
        self.reasoning_tokens = getattr(usage, "reasoning", 0) or 0

    def estimated(self, tokens_in: int, tokens_out: int = 0) -> None:
        self.tokens_in, self.tokens_out, self.usage_source = tokens_in, tokens_out, "estimated"

    def finish(self) -> None:
        """Close the timing when the request is over (before the event is built)."""
        self.latency_ms = self.elapsed_ms()
        if not self.overhead_ms:
            self.overhead_ms = self.latency_ms - self.upstream_ms

    def priced(self) -> Any:
        """The request's price (the one place requests are priced): the serving configuration's
        override, else the offline table, else unknown (cost None). Pure, never blocks once the
        table is loaded."""
        if self.cost is None:
            counts = TokenCounts(
                max(int(self.tokens_in), 0),
                max(int(self.tokens_out), 0),
                max(int(self.cached_tokens), 0),
                max(int(self.cache_write_tokens), 0),
                max(int(self.reasoning_tokens), 0),
            )
            self.cost = price(self.ai_type, self.provider_model or self.model, counts, self.prices)
        return self.cost


_EVENT_KEYS = tuple((n, f.alias or n) for n, f in RequestEvent.model_fields.items())
_ATTEMPT_KEYS = tuple((n, f.alias or n) for n, f in Attempt.model_fields.items())


def event_wire(ev: RequestEvent) -> bytes:
    """The event's wire bytes, as `WireModel.to_wire` writes them (camelCase, field order, UTC
    `Z` times), encoded by orjson from the instance's values (a few µs instead of pydantic's
    serializer; `tests/gateway/test_units.py` compares the two byte for byte)."""
    d = ev.__dict__
    out = {alias: d[name] for name, alias in _EVENT_KEYS}
    out["attempts"] = [{alias: a.__dict__[name] for name, alias in _ATTEMPT_KEYS} for a in d["attempts"]]
    return orjson.dumps(out, option=orjson.OPT_UTC_Z)


class GatewayRequestEvent(RequestEvent):
    """A `RequestEvent` made by `build_event` (every field set, of the right type), so it can
    skip pydantic's serializer on the way to the event log."""

    def to_wire(self) -> bytes:
        return event_wire(self)


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


def make_attempt(
    ai_llm_id: str,
    ai_type: str,
    provider_model: str,
    status: str,
    http_status: int | None,
    error_type: str | None,
    latency_ms: float,
) -> Attempt:
    return _construct(
        Attempt,
        {
            "ai_llm_id": ai_llm_id,
            "ai_type": ai_type,
            "provider_model": provider_model,
            "status": status,
            "http_status": http_status,
            "error_type": error_type,
            "latency_ms": latency_ms,
        },
    )


def build_event(o: RequestRecord, gateway_id: str) -> RequestEvent:
    """Runs after the response was sent (never adds latency to it)."""
    repo = o.key.repo
    cost = o.priced()
    return _construct(
        GatewayRequestEvent,
        dict(
            event_id=new_event_id(),
            schema_version=SCHEMA_VERSION,
            occurred_at=datetime.fromtimestamp(o.started_wall, UTC),
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
            cache_read_tokens=max(int(o.cached_tokens), 0),
            cache_write_tokens=max(int(o.cache_write_tokens), 0),
            reasoning_tokens=max(int(o.reasoning_tokens), 0),
            cost_usd=format_usd(cost.cost_usd),
            price_source=cost.source,
            attempts=o.attempts,
            user_id=o.user_id,
            conversation_id=o.conversation_id,
            policy_ids=list(o.policy_ids),
        ),
    )
