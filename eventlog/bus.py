"""The event publisher of every process: a durable local log, shipped to Kafka or read in-process.

``emit(topic, key, event)`` appends the event to the local log (``store.EventLog``) on the
caller's thread and returns True once it is stored durably (against process death); it never
waits for Kafka and never raises. It returns False (counted in
``tollgate_publisher_dropped_total``) when the event could not be stored: the log is full, not
open, or the disk failed; the gateway then answers 503 rather than serve unmetered.

- Distributed (``kafka_bootstrap`` given): a ``KafkaShipper`` forwards the log to Kafka and
  trims what Kafka acknowledged. Kafka being down only makes the log grow.
- Embedded: the log is the bus. ``subscribe(topic, handler, ...)`` starts one task per
  subscription that reads from its committed offset, calls ``await handler(list[Record])``
  (partition 0, offset = the log's offset) and commits only after the handler returned; a
  failing handler is retried with capped backoff, nothing is skipped. Records below every
  reader's position are trimmed; a topic nobody subscribed to is trimmed unread.

Call ``emit``/``publish``/``subscribe`` on the event-loop thread that runs ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import metrics
from eventlog.logreader import LOG_FILE, Handler, Subscription, deliver
from eventlog.store import EventLog, LogFull
from schemas import topics as topic_names
from schemas.records import Record

log = logging.getLogger("tollgate.eventlog")

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
COMPACTED = frozenset(t for t, c in topic_names.TOPIC_CONFIGS.items() if c.get("cleanup.policy") == "compact")
__all__ = ["LOG_FILE", "EventLogBus", "Handler", "Subscription"]


class EventLogBus:
    """EventPublisher over the local log; see the module docstring. ``start``/``stop`` block."""

    name = "eventlog"
    durable_offsets = True  # offsets survive restarts and are never reused

    def __init__(
        self,
        data_dir: Path | str,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        kafka_bootstrap: str | None = None,
        client_id: str = "tollgate",
        drain_timeout_s: float = 10.0,
        retry_backoff_s: tuple[float, float] = (0.05, 5.0),
        trim_interval_s: float = 1.0,
        shipper_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(data_dir) / LOG_FILE
        self.max_bytes = max_bytes
        self.kafka_bootstrap = kafka_bootstrap
        self.client_id = client_id
        self.drain_timeout_s = drain_timeout_s
        self.backoff_min, self.backoff_max = retry_backoff_s
        self.trim_interval_s = trim_interval_s
        self._shipper_kwargs = shipper_kwargs or {}
        self.log: EventLog | None = None
        self.shipper: Any = None
        self._subs: dict[str, list[Subscription]] = {}
        self._next: dict[str, int] = {}  # next offset per topic as this process knows it
        self._maint: asyncio.Task | None = None
        self._running = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._last_err_log: dict[str, float] = {}
        self._m_emitted: dict[str, Any] = {}
        self._full = False
        # Readers in another process (`up --workers`): below which offset a topic may be trimmed.
        self.trim_bound: Callable[[str], int | None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the log (creating it), start subscriptions, the shipper and trimming."""
        self.log = await asyncio.to_thread(EventLog, self.path, self.max_bytes)
        for t in self.log.topics():
            self._next[t] = (await asyncio.to_thread(self.log.state, t)).next
        self._stopping = False
        self._running = True
        metrics.EVENTLOG_FULL.set(0)
        for subs in self._subs.values():
            for sub in subs:
                self._start_sub(sub)
        for subs in self._subs.values():
            for sub in subs:
                await self._wait_ready(sub)
        if self.kafka_bootstrap:
            from eventlog.shipper import KafkaShipper

            self.shipper = KafkaShipper(
                self.log, self.kafka_bootstrap, client_id=self.client_id, **self._shipper_kwargs
            )
            self.shipper.start()
        self._maint = asyncio.create_task(self._maintain(), name="eventlog-trim")

    async def stop(self) -> None:
        """Ship / deliver what it can within ``drain_timeout_s``; the rest stays in the log."""
        if not self._running:
            return
        self._stopping = True
        self._stop_deadline = time.monotonic() + self.drain_timeout_s
        if self.shipper is not None:
            await self.shipper.stop(self.drain_timeout_s)
        tasks = [s.task for subs in self._subs.values() for s in subs if s.task is not None]
        for subs in self._subs.values():
            for s in subs:
                s.wake.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.drain_timeout_s + 2)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(BaseException):
                    await t
        for subs in self._subs.values():
            for s in subs:
                s.task, s.ready = None, asyncio.Event()
        if self._maint is not None:
            self._maint.cancel()
            with contextlib.suppress(BaseException):
                await self._maint
            self._maint = None
        self._running = False
        lg, self.log = self.log, None
        if lg is not None:
            left = {t: self._next.get(t, 0) - (lg.min_cursor(t) or self._next.get(t, 0)) for t in lg.topics()}
            left = {t: n for t, n in left.items() if n > 0}
            if left:
                log.warning("event log keeps unhandled records for the next start: %s", left)
            await asyncio.to_thread(lg.close)

    # ---- EventPublisher --------------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """True while emits are stored: open, and not full (after the log filled up, until
        trimming brought it back under 90 % of its bound)."""
        return self.log is not None and not self._full

    def emit(self, topic: str, key: str | None, event: Any) -> bool:
        """Append ``event`` durably; True when stored. Never raises, never waits for Kafka."""
        try:
            value = event.to_wire()
        except Exception as exc:  # noqa: BLE001 - emit never raises
            self._drop("encode_error", topic, exc)
            return False
        return self.publish(topic, value, key.encode() if key is not None else None)

    def publish(self, topic: str, value: bytes, key: bytes | None = None) -> bool:
        """Append already-encoded bytes (e.g. a DeadLetter); same contract as ``emit``."""
        return self.publish_many(topic, [(key, bytes(value))])

    def publish_many(self, topic: str, items: list[tuple[bytes | None, bytes]]) -> bool:
        """Append (key, value) records in one transaction (all or none): one commit for many
        records (group commit), same contract as ``emit`` otherwise."""
        lg = self.log
        if lg is None:
            self._drop("stopped", topic, n=len(items))
            return False
        try:
            if len(items) == 1:
                offset = lg.append(topic, items[0][0], items[0][1])
            else:
                ts = int(time.time() * 1000)
                offset = lg.append_many(topic, [(k, v, ts) for k, v in items])[-1]
        except LogFull:
            self._full = True
            metrics.EVENTLOG_FULL.set(1)
            self._drop("log_full", topic, n=len(items))
            return False
        except Exception as exc:  # noqa: BLE001 - disk error or closed log
            self._drop("write_error", topic, exc, n=len(items))
            return False
        self._next[topic] = offset + 1
        m = self._m_emitted.get(topic)
        if m is None:
            m = self._m_emitted[topic] = metrics.PUBLISHER_EMITTED.labels(topic)
        m.inc(len(items))
        for s in self._subs.get(topic, ()):
            s.wake.set()
        if self.shipper is not None:
            self.shipper.wake.set()
        return True

    def _drop(self, reason: str, topic: str, exc: BaseException | None = None, n: int = 1) -> None:
        metrics.PUBLISHER_DROPPED.labels(reason).inc(n)
        now = time.monotonic()
        if now - self._last_err_log.get("drop", 0.0) >= 10.0:
            self._last_err_log["drop"] = now
            log.error(
                "EVENT NOT STORED (%s) for topic %s%s; see tollgate_publisher_dropped_total",
                reason,
                topic,
                f": {type(exc).__name__}" if exc else "",
            )

    # ---- embedded transport ----------------------------------------------------------------

    def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        max_batch: int = 500,
        max_wait_ms: int = 50,
        name: str | None = None,
        durable: bool = True,
        start: str = "earliest",
    ) -> Subscription:
        """Register ``handler`` for ``topic`` (before or after ``start``). Non-blocking.
        ``durable=False``: the position lives in memory only; each start begins at ``start``
        ("earliest" stored record or "end") and leaves no cursor behind (per-process readers)."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if start not in ("earliest", "end"):
            raise ValueError("start must be 'earliest' or 'end'")
        sub_name = name or f"{getattr(handler, '__module__', 'h')}.{getattr(handler, '__qualname__', 'handler')}"
        sub_name = _SAFE.sub("_", sub_name)
        if any(s.name == sub_name for s in self._subs.get(topic, ())):
            raise ValueError(f"subscription {sub_name!r} already exists on {topic}")
        sub = Subscription(topic, sub_name, handler, max_batch, max_wait_ms, durable, start)
        self._subs.setdefault(topic, []).append(sub)
        if self._running:
            self._start_sub(sub)
        return sub

    async def unsubscribe(self, sub: Subscription, drain_timeout_s: float = 5.0) -> None:
        """Let ``sub`` catch up (bounded), then stop it; a durable cursor stays for a later start."""
        subs = self._subs.get(sub.topic, [])
        if sub not in subs:
            return
        sub.closing = True
        sub.deadline = time.monotonic() + drain_timeout_s
        sub.wake.set()
        if sub.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(sub.task), drain_timeout_s + 2)
            if not sub.task.done():
                sub.task.cancel()
                with contextlib.suppress(BaseException):
                    await sub.task
        subs.remove(sub)
        sub.task = None

    async def forget(self, topic: str, name: str) -> None:
        """Remove a stored cursor (it no longer holds back trimming)."""
        if self.log is not None:
            await asyncio.to_thread(self.log.drop_cursor, topic, _SAFE.sub("_", name))

    def lag(self, topic: str, name: str | None = None) -> int:
        """Records stored but not yet handled (by ``name`` or the slowest subscription)."""
        nxt = self._next.get(topic, 0)
        subs = [s for s in self._subs.get(topic, ()) if name is None or s.name == name]
        return max((max(0, nxt - s.position) for s in subs if s.position >= 0), default=0)

    def idle(self) -> bool:
        """Every subscription started and caught up with what this process stored."""
        for topic, subs in self._subs.items():
            for s in subs:
                if s.task is None or not s.ready.is_set() or s.position < self._next.get(topic, 0):
                    return False
        return True

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Until every subscription handled everything stored so far (bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            await asyncio.sleep(0.01)
        return self.idle()

    # ---- internals -------------------------------------------------------------------------

    def _start_sub(self, sub: Subscription) -> None:
        sub.task = asyncio.create_task(self._consume(sub), name=f"eventlog-{sub.topic}-{sub.name}")

    async def _wait_ready(self, sub: Subscription) -> None:
        ready = asyncio.ensure_future(sub.ready.wait())
        await asyncio.wait([ready, sub.task], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await sub.task  # re-raises what failed

    def _done(self, sub: Subscription) -> bool:
        caught_up = sub.position >= self._next.get(sub.topic, 0)
        if self._stopping and (caught_up or time.monotonic() >= self._stop_deadline):
            return True
        return sub.closing and (caught_up or time.monotonic() >= sub.deadline)

    async def _consume(self, sub: Subscription) -> None:
        lg = self.log
        assert lg is not None
        await asyncio.to_thread(lg.ensure_topic, sub.topic)
        st = await asyncio.to_thread(lg.state, sub.topic)
        self._next[sub.topic] = max(self._next.get(sub.topic, 0), st.next)
        pos = await asyncio.to_thread(lg.cursor, sub.topic, sub.name) if sub.durable else None
        if pos is None:
            pos = st.first if sub.start == "earliest" else st.next
            if sub.durable:
                await asyncio.to_thread(lg.commit, sub.topic, sub.name, pos)
        sub.position = pos
        sub.ready.set()
        m_lag = metrics.BUS_LAG.labels(sub.topic, sub.name)
        m_ok = metrics.BUS_DELIVERED.labels(sub.topic, sub.name)
        m_err = metrics.BUS_HANDLER_ERRORS.labels(sub.topic, sub.name)
        while not self._done(sub):
            m_lag.set(max(0, self._next.get(sub.topic, 0) - sub.position))
            if self._next.get(sub.topic, 0) <= sub.position:
                sub.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):  # another process may append
                    await asyncio.wait_for(sub.wake.wait(), 0.5)
            elif (
                sub.max_wait_ms > 0
                and self._next[sub.topic] - sub.position < sub.max_batch
                and not (self._stopping or sub.closing)
            ):
                await asyncio.sleep(sub.max_wait_ms / 1000)  # let a batch fill
            # Inline: a bounded indexed read; a worker-thread hop here would make emit() wait
            # for the GIL (measured: emit p99 several times higher).
            records = lg.read(sub.topic, sub.position, sub.max_batch)
            if not records:
                continue
            if not await self._deliver(sub, records, m_err):
                return  # stopping and the handler still fails: redelivered after restart
            nxt = records[-1].offset + 1
            if nxt > self._next.get(sub.topic, 0):
                self._next[sub.topic] = nxt
            if sub.durable:
                lg.commit(sub.topic, sub.name, nxt)
            sub.position = nxt
            m_ok.inc(len(records))

    def _deliver(self, sub: Subscription, records: list[Record], m_err: Any) -> Any:
        def limit() -> float | None:
            return self._stop_deadline if self._stopping else sub.deadline if sub.closing else None

        return deliver(sub, records, m_err, limit, (self.backoff_min, self.backoff_max), self._last_err_log)

    async def _maintain(self) -> None:
        """Trim what every reader is past, checkpoint the WAL, publish gauges (once a second)."""
        while True:
            await asyncio.sleep(self.trim_interval_s)
            try:
                await asyncio.to_thread(self.trim_once)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried next round
                log.warning("event log maintenance failed: %s", type(exc).__name__)

    def trim_once(self) -> None:
        """One trimming round (blocking; run in a worker thread)."""
        lg = self.log
        if lg is None:
            return
        for topic in lg.topics():
            bound = lg.min_cursor(topic) if self.trim_bound is None else self.trim_bound(topic)
            if self.trim_bound is not None and bound is None:
                continue  # the other process has no cursor here yet: never trim before it
            live = [s.position for s in self._subs.get(topic, ()) if not s.durable and s.position >= 0]
            if live:
                bound = min(live + ([bound] if bound is not None else []))
            if bound is None:
                if self.kafka_bootstrap:
                    continue  # the shipper registers its cursor; never trim before it
                bound = self._next.get(topic, lg.state(topic).next)
                n = lg.trim(topic, bound, compact=topic in COMPACTED)
                if n:
                    metrics.BUS_UNROUTED.labels(topic).inc(n)
                continue
            while lg.trim(topic, bound, compact=topic in COMPACTED) and self._running and topic not in COMPACTED:
                pass
        lg.checkpoint()
        metrics.EVENTLOG_BYTES.set(lg.bytes)
        if self._full and lg.bytes < 0.9 * lg.max_bytes:
            self._full = False
        metrics.EVENTLOG_FULL.set(1 if self._full else 0)
