"""In-process event bus for the embedded mode (no ``TOLLGATE_KAFKA_BOOTSTRAP``).

It is both the ``EventPublisher`` the gateway emits to and the transport the consumer handlers
(metering, policy) read from, with Kafka-like guarantees inside one process.

Design
- Log: one durable spool per topic in ``<data_dir>/bus/<topic>/`` (see ``spool.py``). A
  record's spool sequence number is its offset; the partition is always 0. Offsets only grow,
  also across restarts.
- ``emit()`` never raises and blocks only on one ``write()`` syscall: the event is appended
  to its topic's log at once (no fsync), so once ``emit()`` returned it survives a kill of the
  process (SIGKILL, OOM); a power loss may still take the not yet fsync'd tail. A writer task
  fsyncs the logs in batches (group commit, outside the append lock) before any handler can
  see the records, so an offset a handler saw is never lost or reused. Only while a topic's
  log is not open yet (before ``start()`` or a subscription opened it), or while older events
  are still queued, does an event go through the bounded in-memory queue, which the writer
  appends in order. Events emitted to a topic nobody subscribed to are not stored
  (counted in ``tollgate_bus_unrouted_total``); subscribe before emitting starts (wiring time
  or a component's ``start``).
- ``subscribe(topic, handler, max_batch=, max_wait_ms=, name=)``: one task per subscription
  reads the log from its committed offset, waits up to ``max_wait_ms`` to fill ``max_batch``,
  and calls ``await handler(list[Record])``. Only after the handler returns is the offset
  after the batch persisted (``cursor-<name>`` in the topic's log dir). If the handler raises,
  the same batch is retried with capped exponential backoff; nothing is ever skipped.
  ``name`` identifies the subscription across restarts (default: the handler's qualified
  name); several subscriptions on one topic each get every record (like consumer groups).
  ``durable=False`` keeps the offset in memory only (it still holds back retention while the
  process runs): for per-process subscribers, e.g. names that contain a pid, which would
  otherwise leave cursors behind that hold back retention forever. There is no compaction:
  a subscriber that needs the full state of a topic at start must rebuild it elsewhere.
- Crash/restart: records written but not handled are delivered again after a restart, from
  the committed offset (at least once). Handlers deduplicate by offset (partition 0), as the
  metering handler does with its per-partition offset state. Events emitted before the log
  was open (still in the in-memory queue) are lost on a hard crash; a clean ``stop()`` writes
  them.
- Bounded: the queue (``queue_max``) and each topic log (``max_bytes``); overflow is counted
  and logged as ERROR (rate-limited), never raised. Segments are deleted once every
  subscription (every cursor on disk) is past them; ``forget(topic, name)`` removes a stale
  subscription's cursor so it stops holding back retention.
- ``stop()`` drains: writes the queue, lets subscriptions catch up for up to
  ``drain_timeout_s`` (a failing handler is retried until then), then closes the logs.
  ``drain()`` waits for catch-up without stopping (e.g. before closing a warehouse).

Call ``emit``/``subscribe`` from the event-loop thread that runs the bus.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from producers.publisher.queued import QueuedFront, QueuedItem
from producers.publisher.spool import Spool
from schemas.records import Record
from core import metrics

log = logging.getLogger("tollgate.bus")

Handler = Callable[[list[Record]], Awaitable[None]]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(eq=False)
class Subscription:
    """A registered handler (returned by ``subscribe``; read-only for callers)."""

    topic: str
    name: str
    handler: Handler
    max_batch: int
    max_wait_ms: int
    position: int = -1          # next offset to deliver (committed)
    durable: bool = True        # committed offset persisted (resume after restart)
    start: str = "earliest"     # where a subscription without a committed offset begins
    closing: bool = False       # unsubscribe() asked it to finish
    deadline: float = 0.0
    task: asyncio.Task | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class InProcessBus(QueuedFront):
    """EventPublisher + in-process transport; see the module docstring.
    ``emit``/``publish`` come from ``QueuedFront``."""

    name = "bus.inproc"
    _drop_log = log
    durable_offsets = True      # offsets survive restarts and are never reused

    def __init__(
        self,
        data_dir: Path | str,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        queue_max: int = 100_000,
        write_batch: int = 5_000,
        drain_timeout_s: float = 10.0,
        retry_backoff_s: tuple[float, float] = (0.05, 5.0),
        spool_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.root = Path(data_dir) / "bus"
        self.max_bytes = max_bytes
        self.queue_max = queue_max
        self.write_batch = write_batch
        self.drain_timeout_s = drain_timeout_s
        self.backoff_min, self.backoff_max = retry_backoff_s
        self._spool_kwargs = spool_kwargs or {}
        self._queue: collections.deque[QueuedItem] = collections.deque()
        self._wakeup = asyncio.Event()
        self._subs: dict[str, list[Subscription]] = {}
        self._logs: dict[str, Spool] = {}
        self._log_locks: dict[str, asyncio.Lock] = {}
        self._writer: asyncio.Task | None = None
        self._running = False
        self._accepting = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._writing = False
        self._dirty: set[str] = set()      # topics written but not yet fsync'd
        self._syncing: set[str] = set()    # topics being fsync'd right now
        self._last_drop_log = 0.0
        self._m_emitted: dict[str, Any] = {}
        self._last_err_log: dict[str, float] = {}

    # ---- EventPublisher (emit: QueuedFront) ---------------------------------------------------

    async def start(self) -> None:
        """Open the logs of subscribed topics and start the writer and the subscriptions."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        self._running = True
        self._accepting = True
        self._writer = asyncio.create_task(self._write_loop(), name="bus-writer")
        for subs in self._subs.values():
            for sub in subs:
                self._start_sub(sub)
        for subs in list(self._subs.values()):
            for sub in subs:
                await self._wait_ready(sub)

    async def _wait_ready(self, sub: Subscription) -> None:
        """Until the subscription opened its log (raises what opening raised, e.g. a locked dir)."""
        ready = asyncio.ensure_future(sub.ready.wait())
        await asyncio.wait([ready, sub.task], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await sub.task      # re-raises the failure

    async def stop(self) -> None:
        """Write what is queued, let handlers catch up (bounded), close the logs."""
        if not self._running:
            return
        self._accepting = False
        self._stopping = True
        self._stop_deadline = time.monotonic() + self.drain_timeout_s
        self._wakeup.set()
        if self._writer is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._writer), self.drain_timeout_s + 5)
            if not self._writer.done():
                self._writer.cancel()
                with contextlib.suppress(BaseException):
                    await self._writer
        tasks = [s.task for subs in self._subs.values() for s in subs if s.task is not None]
        for subs in self._subs.values():
            for s in subs:
                s.wake.set()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=self.drain_timeout_s + 5)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(BaseException):
                    await t
        for subs in self._subs.values():
            for s in subs:
                s.task = None
                s.ready = asyncio.Event()
        for topic, spool in list(self._logs.items()):
            lag = sum(max(0, spool.next_seq - s.position) for s in self._subs.get(topic, ()))
            if lag:
                log.warning("bus topic %s: %d record(s) not yet handled; delivered after restart",
                            topic, lag)
            await asyncio.to_thread(spool.close)
        self._logs.clear()
        self._running = False

    def _enqueue(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Append to the topic's log at once (one write syscall, no fsync) when it is open and
        nothing older is queued (keeps the order); else queue for the writer. Never raises."""
        spool = self._logs.get(topic)
        if spool is None or self._queue or self._writing or not self._subs.get(topic):
            super()._enqueue(topic, key, value)
            return
        m = self._m_emitted.get(topic)
        if m is None:
            m = self._m_emitted[topic] = metrics.PUBLISHER_EMITTED.labels(topic)
        m.inc()
        try:
            seqs = spool.append_many([(topic, key, value, int(time.time() * 1000))], sync=False)
        except Exception as exc:  # noqa: BLE001 - emit never raises (disk error, closed log)
            self._drop("write_error", topic, exc)
            return
        if seqs[0] is None:         # spool full: counted + ERROR-logged by the spool
            metrics.PUBLISHER_DROPPED.labels("spool_full").inc()
            return
        metrics.PUBLISHER_SENT.labels(topic).inc()
        self._dirty.add(topic)
        if not self._wakeup.is_set():
            self._wakeup.set()

    # ---- transport (publish: QueuedFront) -----------------------------------------------------

    async def unsubscribe(self, sub: Subscription, drain_timeout_s: float = 5.0) -> None:
        """Let ``sub`` catch up (bounded), then stop its task; its cursor stays on disk, so a
        later ``subscribe`` with the same name resumes there. Call before closing what the
        handler writes to (the bus itself stops last)."""
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
        spool = self._logs.get(sub.topic)
        if not sub.durable and spool is not None:
            await asyncio.to_thread(spool.drop_cursor, sub.name)

    def subscribe(self, topic: str, handler: Handler, *, max_batch: int = 500,
                  max_wait_ms: int = 50, name: str | None = None, durable: bool = True,
                  start: str = "earliest") -> Subscription:
        """Register ``handler`` for ``topic`` (before or after ``start``). Non-blocking.

        ``durable=False``: the offset lives in memory only; each process start begins at
        ``start`` ("earliest" stored record, or "end" = only new records) and leaves no cursor on
        disk (use it for per-process names, e.g. one containing a pid)."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if start not in ("earliest", "end"):
            raise ValueError("start must be 'earliest' or 'end'")
        sub_name = name or f"{getattr(handler, '__module__', 'h')}.{getattr(handler, '__qualname__', 'handler')}"
        sub_name = _SAFE.sub("_", sub_name)
        if any(s.name == sub_name for s in self._subs.get(topic, ())):
            raise ValueError(f"subscription {sub_name!r} already exists on {topic}")
        sub = Subscription(topic, sub_name, handler, max_batch, max_wait_ms, durable=durable,
                           start=start)
        self._subs.setdefault(topic, []).append(sub)
        if self._running:
            self._start_sub(sub)
        return sub

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is stored and handled by every subscription."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            await asyncio.sleep(0.01)
        return self.idle()

    def idle(self) -> bool:
        """Nothing queued, nothing being written, every subscription caught up."""
        if self._queue or self._writing or self._dirty or self._syncing:
            return False
        for topic, subs in self._subs.items():
            spool = self._logs.get(topic)
            for s in subs:
                if s.task is None or not s.ready.is_set():
                    return False
                if spool is not None and s.position < spool.next_seq:
                    return False
        return True

    def lag(self, topic: str, name: str | None = None) -> int:
        """Records stored but not yet handled (by ``name`` or the slowest subscription)."""
        spool = self._logs.get(topic)
        if spool is None:
            return 0
        subs = [s for s in self._subs.get(topic, ()) if name is None or s.name == name]
        return max((max(0, spool.next_seq - s.position) for s in subs), default=0)

    async def forget(self, topic: str, name: str) -> None:
        """Remove a subscription's stored cursor (it no longer holds back retention)."""
        spool = await self._log(topic)
        await asyncio.to_thread(spool.drop_cursor, _SAFE.sub("_", name))

    # ---- internals -------------------------------------------------------------------------

    def _start_sub(self, sub: Subscription) -> None:
        sub.task = asyncio.create_task(self._consume(sub), name=f"bus-{sub.topic}-{sub.name}")

    async def _log(self, topic: str) -> Spool:
        spool = self._logs.get(topic)
        if spool is not None:
            return spool
        lock = self._log_locks.setdefault(topic, asyncio.Lock())
        async with lock:
            spool = self._logs.get(topic)
            if spool is None:
                spool = await asyncio.to_thread(
                    Spool, self.root / _SAFE.sub("_", topic), self.max_bytes,
                    name=f"bus:{topic}", **self._spool_kwargs)
                self._logs[topic] = spool
            return spool

    async def _write_loop(self) -> None:
        while True:
            if self._dirty:
                await self._sync_dirty()
            if not self._queue:
                if self._dirty:
                    continue
                if self._stopping:
                    return
                self._wakeup.clear()
                if self._dirty or self._queue:
                    continue
                await self._wakeup.wait()
                continue
            n = min(len(self._queue), self.write_batch)
            batch = [self._queue.popleft() for _ in range(n)]
            self._writing = True
            try:
                by_topic: dict[str, list[QueuedItem]] = {}
                for item in batch:
                    by_topic.setdefault(item.topic, []).append(item)
                for topic, items in by_topic.items():
                    await self._append(topic, items)
            except Exception as exc:  # noqa: BLE001 - the writer must survive (disk errors)
                log.error("bus writer failed to store %d event(s): %s", len(batch), type(exc).__name__)
                metrics.PUBLISHER_DROPPED.labels("write_error").inc(len(batch))
                await asyncio.sleep(0.1)
            finally:
                self._writing = False
            metrics.PUBLISHER_QUEUE_DEPTH.set(len(self._queue))

    async def _sync_dirty(self) -> None:
        """fsync the logs written since the last round (group commit; appends go on meanwhile)
        and wake their subscriptions: records become visible to handlers only now."""
        topics = list(self._dirty)
        self._dirty.clear()
        self._syncing.update(topics)
        try:
            await self._sync_topics(topics)
        finally:
            self._syncing.clear()

    async def _sync_topics(self, topics: list[str]) -> None:
        for topic in topics:
            spool = self._logs.get(topic)
            if spool is None:
                continue
            try:
                await asyncio.to_thread(spool.sync)
            except Exception as exc:  # noqa: BLE001 - the writer must survive (disk errors)
                log.error("bus writer failed to fsync topic %s: %s", topic, type(exc).__name__)
                self._dirty.add(topic)      # retried; the records stay invisible until then
                await asyncio.sleep(0.1)
                continue
            for s in self._subs.get(topic, ()):
                s.wake.set()

    async def _append(self, topic: str, items: list[QueuedItem]) -> None:
        subs = self._subs.get(topic)
        if not subs:
            metrics.BUS_UNROUTED.labels(topic).inc(len(items))
            return
        spool = await self._log(topic)
        seqs = await asyncio.to_thread(
            spool.append_many, [(i.topic, i.key, i.value, i.ts) for i in items], sync=False)
        self._dirty.add(topic)
        lost = sum(1 for s in seqs if s is None)
        if lost:
            metrics.PUBLISHER_DROPPED.labels("spool_full").inc(lost)
        metrics.PUBLISHER_SENT.labels(topic).inc(len(items) - lost)
        for s in subs:
            s.wake.set()

    async def _consume(self, sub: Subscription) -> None:
        spool = await self._log(sub.topic)
        if sub.durable:
            at = None if sub.start == "earliest" else spool.durable_next
            sub.position = await asyncio.to_thread(spool.register_cursor, sub.name, at)
        else:
            at = spool.first_seq if sub.start == "earliest" else spool.durable_next
            sub.position = await asyncio.to_thread(spool.register_volatile, sub.name, at)
        sub.ready.set()
        m_lag = metrics.BUS_LAG.labels(sub.topic, sub.name)
        m_ok = metrics.BUS_DELIVERED.labels(sub.topic, sub.name)
        m_err = metrics.BUS_HANDLER_ERRORS.labels(sub.topic, sub.name)
        loop = asyncio.get_running_loop()
        while True:
            m_lag.set(max(0, spool.durable_next - sub.position))
            if self._stopping and (sub.position >= spool.durable_next
                                   or time.monotonic() >= self._stop_deadline) \
                    and (self._writer is None or self._writer.done()):
                return
            if sub.closing and (sub.position >= spool.durable_next and not self._queue
                                and not self._writing and sub.topic not in self._dirty
                                and sub.topic not in self._syncing
                                or time.monotonic() >= sub.deadline):
                return
            if spool.durable_next <= sub.position:
                sub.wake.clear()
                if spool.durable_next <= sub.position:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(sub.wake.wait(), 0.5)
                continue
            if (spool.durable_next - sub.position < sub.max_batch and sub.max_wait_ms > 0
                    and not (self._stopping or sub.closing)):
                end = loop.time() + sub.max_wait_ms / 1000
                while spool.durable_next - sub.position < sub.max_batch and not (self._stopping or sub.closing):
                    left = end - loop.time()
                    if left <= 0:
                        break
                    sub.wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(sub.wake.wait(), left)
            res = await asyncio.to_thread(spool.read, sub.position, sub.max_batch)
            if not res.entries:
                if res.next_seq > sub.position:      # skipped a corrupt region
                    await asyncio.to_thread(spool.commit, sub.name, res.next_seq)
                    sub.position = res.next_seq
                continue
            records = [Record(sub.topic, 0, e.seq, e.key, e.value, e.timestamp_ms)
                       for e in res.entries]
            if not await self._deliver(sub, records, m_err):
                return      # stopping and the handler still fails: replayed after restart
            await asyncio.to_thread(spool.commit, sub.name, res.next_seq)
            sub.position = res.next_seq
            m_ok.inc(len(records))

    async def _deliver(self, sub: Subscription, records: list[Record], m_err: Any) -> bool:
        backoff = self.backoff_min
        while True:
            try:
                await sub.handler(records)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried, never dropped
                m_err.inc()
                now = time.monotonic()
                if now - self._last_err_log.get(sub.name, 0.0) >= 5.0:
                    self._last_err_log[sub.name] = now
                    # Only the type: exception text may carry a backend URL or credentials.
                    log.error("bus handler %s on %s failed for offsets %d..%d (%s); retrying",
                              sub.name, sub.topic, records[0].offset, records[-1].offset,
                              type(exc).__name__)
                if self._stopping and time.monotonic() >= self._stop_deadline:
                    return False
                if sub.closing and time.monotonic() >= sub.deadline:
                    return False
                wait = backoff
                if self._stopping:
                    wait = min(wait, max(0.0, self._stop_deadline - time.monotonic()))
                if sub.closing:
                    wait = min(wait, max(0.0, sub.deadline - time.monotonic()))
                await asyncio.sleep(wait)
                backoff = min(self.backoff_max, backoff * 2)
