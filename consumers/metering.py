"""Metering: request and violation events -> ClickHouse raw tables (rollups fill through MVs).

Pipeline: decode -> validate -> rows (pure, `records_to_rows`) -> idempotent insert -> commit
(the caller commits the offsets `MeteringHandler.handle` returns, only after it returned).

Exactly-once effect (Kafka gives at-least-once delivery; ClickHouse has no transactions):

1. A batch is cut into per-(topic, partition) *slices* [first, last]. Each slice is inserted
   with ``insert_deduplication_token = "<topic>:<partition>:<first>-<last>"`` and
   ``deduplicate_blocks_in_dependent_materialized_views=1``; the raw tables and every MV target
   keep ``non_replicated_deduplication_window`` block ids, so replaying the *same* slice is a
   no-op for the rows that landed and fills in whatever did not (e.g. an MV target written
   after a crash between the raw part and the view part).
2. Before a slice is inserted, its bounds are written to ``ingest_log`` (write-ahead intent).
   After a restart or rebalance the consumer reads the latest intent of each partition it gets:
   records below ``first`` are already counted and are dropped (this catches batches that Kafka
   re-delivers in a *different* shape, which a token alone would not), and records in
   [first, last] are collected and replayed as exactly that slice with that token, before
   anything newer. So however batches are re-formed, every offset is applied once.
3. Offsets are committed per partition (next offset = last + 1) only after the insert returned.

Malformed records become `DeadLetter`s (published to the DLQ, at-least-once) and never stop a
partition; the processor also rejects values the tables cannot hold, so a poison record can
never make an insert fail forever. The embedded in-process bus has durable offsets too (its
spool sequence, partition 0), so it uses the ingest log the same way; only a transport without
durable offsets (`exactly_once=False`) skips the log and prefixes tokens with a per-process id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from consumers.metering_decode import COST_PATTERN, UUID_PATTERN, request_columns
from schemas import topics
from schemas.enums import bare_model
from schemas.events import DeadLetter, RequestEvent, ViolationEvent
from schemas.records import Record
from warehouse.tables import VIOLATION_COLUMNS, ColumnBlock

log = logging.getLogger("tollgate.metering")

_MIN_TIME = datetime(1970, 1, 2, tzinfo=UTC)
_MAX_TIME = datetime(2105, 12, 31, tzinfo=UTC)
_U32 = 2**32 - 1
METERED_TOPICS = (topics.REQUESTS, topics.VIOLATIONS)
REQUEST_KIND, VIOLATION_KIND = "requests", "violations"
DEFAULT_KINDS: dict[str, str] = {topics.REQUESTS: REQUEST_KIND, topics.VIOLATIONS: VIOLATION_KIND}


class RowError(ValueError):
    """An event that decoded but cannot be stored (out-of-range values)."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err.get("loc", ())) or "payload"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return "invalid event: " + "; ".join(parts)
    return f"invalid event: {exc}"[:500]


_UUID_RE = re.compile(UUID_PATTERN)


def _uuid(v: str, name: str) -> str:
    """Checked here (cheaply) because one bad UUID would fail the whole insert."""
    if not _UUID_RE.match(v):
        raise RowError(f"{name} is not a UUID")
    return v


def _time(t: datetime) -> datetime:
    if not (_MIN_TIME <= t <= _MAX_TIME):
        raise RowError("occurredAt is out of range")
    return t


def _u(v: int, name: str, hi: int = _U32) -> int:
    if not 0 <= v <= hi:
        raise RowError(f"{name} is out of range")
    return v


_COST_RE = re.compile(COST_PATTERN)


def _cost(v: str | None) -> str | None:
    """A request's USD cost as the Decimal(38, 12) column reads it (a string: exact)."""
    if v is None:
        return None
    if not _COST_RE.match(v):
        raise RowError("costUsd is not a non-negative decimal with at most 12 decimals")
    return v


def request_row(e: RequestEvent, rec: Record) -> list[Any]:
    """Pure: one request event -> one `requests` row (order = warehouse.tables.REQUEST_COLUMNS)."""
    att = e.attempts[:255]
    return [
        _uuid(e.event_id, "eventId"),
        _u(e.schema_version, "schemaVersion", 255),
        _time(e.occurred_at),
        e.org_id,
        e.workspace_id,
        e.repo_id,
        e.repo_ai_api_key_id,
        e.ai_llm_id or "",
        e.ai_type or "",
        e.model,
        e.provider_model,
        e.endpoint,
        e.stream,
        e.status,
        _u(e.http_status, "httpStatus", 65535),
        e.error_type or "",
        e.latency_ms,
        e.ttft_ms,
        e.gateway_overhead_ms,
        _u(e.tokens_in, "tokensIn"),
        _u(e.tokens_out, "tokensOut"),
        _u(e.cached_tokens, "cachedTokens"),
        e.usage_source,
        len(att),
        [a.ai_llm_id for a in att],
        [a.status for a in att],
        [_u(a.http_status or 0, "attempts.httpStatus", 65535) for a in att],
        [a.latency_ms for a in att],
        e.user_id or "",
        e.conversation_id or "",
        list(e.policy_ids),
        e.gateway_id,
        e.request_id,
        rec.topic,
        rec.partition,
        rec.offset,
        _u(e.cache_read_tokens or e.cached_tokens, "cacheReadTokens"),
        _u(e.cache_write_tokens, "cacheWriteTokens"),
        _u(e.reasoning_tokens, "reasoningTokens"),
        _cost(e.cost_usd),
        e.price_source[:64],
    ]


def violation_row(e: ViolationEvent, rec: Record) -> list[Any]:
    """Pure: one violation event -> one `violations` row (order = VIOLATION_COLUMNS)."""
    return [
        _uuid(e.event_id, "eventId"),
        _u(e.schema_version, "schemaVersion", 255),
        _time(e.occurred_at),
        e.policy_id,
        e.policy_name,
        e.org_id,
        e.workspace_id or "",
        e.repo_id or "",
        e.repo_ai_api_key_id or "",
        e.ai_llm_id or "",
        e.request_id or "",
        e.gateway_id or "",
        e.severity,
        e.action_type,
        e.block,
        e.explanation,
        e.llm_type or "",
        bare_model(e.llm_model or ""),
        e.user_id or "",
        e.conversation_id or "",
        _u(e.llm_tokens_in, "llmTokensIn"),
        _u(e.llm_tokens_out, "llmTokensOut"),
        rec.topic,
        rec.partition,
        rec.offset,
        _cost(e.llm_cost_usd),
    ]


def dead_letter(rec: Record, reason: str) -> DeadLetter:
    return DeadLetter(
        topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        reason=reason,
        payload=rec.value.decode("utf-8", errors="replace")[:100_000],
    )


DEAD_KIND = "dead"
TP = tuple[str, int]


def decode_record(rec: Record, kinds: dict[str, str]) -> tuple[str, Any]:
    """Pure, the reference path: one record -> ("requests", row) | ("violations", row) |
    ("dead", DeadLetter), through the pydantic models. Never raises on bad input."""
    kind = kinds.get(rec.topic)
    try:
        if kind == REQUEST_KIND:
            return REQUEST_KIND, request_row(RequestEvent.model_validate_json(rec.value), rec)
        if kind == VIOLATION_KIND:
            return VIOLATION_KIND, violation_row(ViolationEvent.model_validate_json(rec.value), rec)
        return DEAD_KIND, dead_letter(rec, f"topic {rec.topic} is not metered")
    except (ValidationError, RowError, ValueError, TypeError) as exc:
        return DEAD_KIND, dead_letter(rec, _reason(exc))


def _request_fallback(rec: Record) -> tuple[str, Any]:
    return decode_record(rec, {rec.topic: REQUEST_KIND})


def reference_rows(
    records: Iterable[Record], kinds: dict[str, str] | None = None
) -> tuple[list[list[Any]], list[list[Any]], list[DeadLetter]]:
    """Pure: the reference decode, one record at a time -> (request rows, violation rows, dead)."""
    kinds = DEFAULT_KINDS if kinds is None else kinds
    out: dict[str, list[Any]] = {REQUEST_KIND: [], VIOLATION_KIND: [], DEAD_KIND: []}
    for rec in records:
        kind, item = decode_record(rec, kinds)
        out[kind].append(item)
    return out[REQUEST_KIND], out[VIOLATION_KIND], out[DEAD_KIND]


@dataclass(slots=True)
class Decoded:
    """Decoded records: the rows of each table as columns, and the dead letters (input order).
    `first`, `last`, `count` say which offsets of one partition it covers (see `predecode`)."""

    requests: ColumnBlock
    violations: ColumnBlock
    dead: list[DeadLetter]
    first: int = -1
    last: int = -1
    count: int = 0

    def extend(self, other: Decoded) -> None:
        self.requests.extend(other.requests)
        self.violations.extend(other.violations)
        self.dead.extend(other.dead)


def decode_batch(records: Sequence[Record], kinds: dict[str, str] | None = None) -> Decoded:
    """Pure: records -> `Decoded` (msgspec fast path for request events, reference path for
    violations and for whatever the fast path refuses). Never raises on bad input."""
    kinds = DEFAULT_KINDS if kinds is None else kinds
    req_recs: list[Record] = []
    viol_rows: list[list[Any]] = []
    dead: list[DeadLetter] = []
    for rec in records:
        kind = kinds.get(rec.topic)
        if kind == REQUEST_KIND:
            req_recs.append(rec)
            continue
        kind, item = decode_record(rec, kinds)
        (viol_rows if kind == VIOLATION_KIND else dead).append(item)
    requests, req_dead = request_columns(req_recs, _request_fallback)
    if req_dead:
        pos = {(r.topic, r.partition, r.offset): i for i, r in enumerate(records)}
        dead = sorted(dead + req_dead, key=lambda d: pos.get((d.topic, d.partition, d.offset), 0))
    return Decoded(requests, ColumnBlock.from_rows(VIOLATION_COLUMNS, viol_rows), dead)


def records_to_rows(
    records: Sequence[Record], kinds: dict[str, str] | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[DeadLetter]]:
    """Pure: records -> (request rows, violation rows, dead letters), via `decode_batch`."""
    d = decode_batch(records, kinds)
    return d.requests.rows(), d.violations.rows(), d.dead


async def predecode(
    records: Sequence[Record], kinds: dict[str, str] | None = None, chunk: int = 2_000
) -> dict[TP, Decoded]:
    """Decode a batch per partition (offset order) on the event loop, yielding every `chunk`
    records so the loop keeps serving (the fetcher, the previous batch's insert completing).
    CPU only, no I/O; the result feeds `MeteringHandler.handle(records, decoded=...)`, which
    uses a partition's entry when the slice it inserts is exactly the records decoded."""
    import asyncio

    groups: dict[TP, list[Record]] = {}
    for r in records:
        groups.setdefault((r.topic, r.partition), []).append(r)
    out: dict[TP, Decoded] = {}
    for tp, recs in groups.items():
        recs.sort(key=_offset)
        d = decode_batch(recs[:chunk], kinds)
        for i in range(chunk, len(recs), chunk):
            await asyncio.sleep(0)
            d.extend(decode_batch(recs[i : i + chunk], kinds))
        d.first, d.last, d.count = recs[0].offset, recs[-1].offset, len(recs)
        out[tp] = d
        await asyncio.sleep(0)
    return out


def _offset(r: Record) -> int:
    return r.offset


class WarehouseWriter(Protocol):
    async def insert_requests(self, rows: ColumnBlock, dedup_token: str) -> None: ...
    async def insert_violations(self, rows: ColumnBlock, dedup_token: str) -> None: ...
    async def write_intent(self, topic: str, partition: int, first: int, last: int, token: str) -> None: ...
    async def load_intents(self, topic: str, partition: int) -> tuple[int, int, str] | None: ...


DlqPublisher = Callable[[list[DeadLetter]], Awaitable[None]]


@dataclass
class _PartState:
    done_below: int = 0  # every offset < this is counted
    pending: tuple[int, int, str] | None = None  # logged slice that may be partly applied
    buffer: dict[int, Record] = field(default_factory=dict)


class MeteringHandler:
    """Batch handler shared by the Kafka runner and the in-process bus.

    `handle(records)` may block on ClickHouse (awaits the warehouse executor). It returns
    {(topic, partition): next_offset_to_commit}; it raises when an insert fails, and calling it
    again with the same records is safe (the same slices are replayed with the same tokens).
    """

    def __init__(
        self,
        warehouse: WarehouseWriter,
        *,
        dlq: DlqPublisher | None = None,
        exactly_once: bool = True,
        token_prefix: str = "",
        kinds: dict[str, str] | None = None,
    ):
        self.wh = warehouse
        self.kinds = dict(DEFAULT_KINDS if kinds is None else kinds)
        self.dlq = dlq
        self.exactly_once = exactly_once
        self.token_prefix = token_prefix if exactly_once else (token_prefix or f"{uuid.uuid4()}:")
        self._state: dict[TP, _PartState] = {}
        self.counted = 0  # rows inserted by this handler (for metrics and the benchmark)
        self.dead_letters = 0

    def reset(self, partitions: Iterable[TP] | None = None) -> None:
        """Forget partition state (after a rebalance); it is reloaded from the ingest log."""
        if partitions is None:
            self._state.clear()
        else:
            for tp in partitions:
                self._state.pop(tp, None)

    async def _load(self, tp: TP) -> _PartState:
        if not self.exactly_once:
            return _PartState()
        intent = await self.wh.load_intents(*tp)
        if intent is None:
            return _PartState()
        first, _last, _token = intent
        return _PartState(done_below=first, pending=intent)

    async def handle(self, records: Sequence[Record], decoded: dict[TP, Decoded] | None = None) -> dict[TP, int]:
        groups: dict[TP, list[Record]] = {}
        for r in records:
            groups.setdefault((r.topic, r.partition), []).append(r)
        commits: dict[TP, int] = {}
        for tp, recs in groups.items():
            recs.sort(key=_offset)
            st = self._state.get(tp)
            if st is None:
                st = self._state[tp] = await self._load(tp)
            recs = [r for r in recs if r.offset >= st.done_below]
            if st.pending is not None:
                first, last, token = st.pending
                for r in recs:
                    if first <= r.offset <= last:
                        st.buffer[r.offset] = r
                rest = [r for r in recs if r.offset > last]
                if not rest and (not st.buffer or max(st.buffer) < last):
                    commits[tp] = st.done_below  # slice not complete yet: hold position
                    continue
                await self._insert_slice(tp, [st.buffer[o] for o in sorted(st.buffer)], token, decoded)
                st.pending, st.buffer, st.done_below = None, {}, last + 1
                recs = rest
            if recs:
                first, last = recs[0].offset, recs[-1].offset
                token = f"{self.token_prefix}{tp[0]}:{tp[1]}:{first}-{last}"
                st.pending, st.buffer = (first, last, token), {r.offset: r for r in recs}
                if self.exactly_once:
                    await self.wh.write_intent(tp[0], tp[1], first, last, token)
                await self._insert_slice(tp, recs, token, decoded)
                st.pending, st.buffer, st.done_below = None, {}, last + 1
            commits[tp] = st.done_below
        return commits

    async def _insert_slice(
        self, tp: TP, recs: list[Record], token: str, decoded: dict[TP, Decoded] | None = None
    ) -> None:
        d = decoded.get(tp) if decoded and recs else None
        if d is None or (d.first, d.last, d.count) != (recs[0].offset, recs[-1].offset, len(recs)):
            d = decode_batch(recs, self.kinds)  # a slice other than the one decoded ahead
        reqs, viols, dead = d.requests, d.violations, d.dead
        if dead:
            self.dead_letters += len(dead)
            for x in dead:
                log.warning("dead letter %s[%d]@%d: %s", x.topic, x.partition, x.offset, x.reason)
            if self.dlq is not None:
                await self.dlq(dead)
        if reqs:
            await self.wh.insert_requests(reqs, token)
        if viols:
            await self.wh.insert_violations(viols, token)
        self.counted += len(reqs) + len(viols)
