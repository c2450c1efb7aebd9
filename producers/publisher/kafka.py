"""Kafka event publisher with a durable local spool (distributed mode).

Design
- ``emit()`` serializes the event and appends it to a bounded in-memory queue; it never blocks
  and never raises (a full queue or an encoding error is counted and logged, nothing more).
- One background task (the sender) moves events on, in one of two modes:
  * direct: takes a batch from the queue, hands each event to FastStream's ``KafkaBroker``
    (aiokafka; ``acks=all``, idempotent, ``linger_ms`` batching, zstd/lz4/gzip compression,
    key = repository API key id so one key stays on one partition) and waits for the acks,
    bounded by ``send_timeout_s``;
  * spooling: entered when a send fails or times out, when Kafka cannot be reached at start,
    when the queue backs up (more than ``high_water`` waiting), or when the spool holds
    records from an earlier run. Every event then goes to the spool *behind* the older ones,
    and the sender replays the spool in order (commit the spool cursor only for the acked
    prefix), retrying with capped exponential backoff. When the spool is drained and the queue
    is empty, the sender returns to direct mode. Because nothing bypasses a non-empty spool,
    per-key order is kept.
- Delivery is at least once: a timed-out send may still land and is then sent again from the
  spool; consumers deduplicate by ``eventId`` / offset.
- ``stop()`` drains: it keeps sending (or replaying) for up to ``drain_timeout_s``, then writes
  whatever is left to the spool and fsyncs it, so the next process (same data dir) replays it.
- After a failure the Kafka client is rebuilt before the next attempt (a fresh idempotent
  producer), so a broker restart never leaves a stuck producer behind.

Call ``emit`` from the event-loop thread that ran ``start``.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from aiokafka import codec as _codec

from producers.publisher.queued import QueuedFront, QueuedItem
from producers.publisher.spool import Spool, open_exclusive
from core import metrics

log = logging.getLogger("tollgate.publisher.kafka")

SPOOL_CURSOR = "kafka"


def best_compression() -> str:
    """zstd, else lz4 (both need cramjam), else gzip — what aiokafka can do with what is installed."""
    if _codec.has_zstd():
        return "zstd"
    if _codec.has_lz4():
        return "lz4"
    return "gzip"


class KafkaEventPublisher(QueuedFront):
    """EventPublisher on Kafka; see the module docstring. ``start``/``stop`` block until done;
    ``emit``/``publish`` come from ``QueuedFront``."""

    name = "publisher.kafka"
    _drop_log = log

    def __init__(
        self,
        bootstrap: str,
        spool_dir: Path | str,
        *,
        spool_max_bytes: int = 512 * 1024 * 1024,
        queue_max: int = 100_000,
        high_water: int | None = None,
        batch_max: int = 2_000,
        replay_batch: int = 2_000,
        linger_ms: int = 10,
        send_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        drain_timeout_s: float = 10.0,
        retry_backoff_s: tuple[float, float] = (0.2, 5.0),
        max_inflight: int = 4,
        client_id: str = "tollgate-publisher",
        compression: str | None = None,
        spool_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.spool_dir = Path(spool_dir)
        self.spool_max_bytes = spool_max_bytes
        self.queue_max = queue_max
        self.high_water = high_water if high_water is not None else max(1, queue_max // 2)
        self.batch_max = batch_max
        self.replay_batch = replay_batch
        self.linger_ms = linger_ms
        self.send_timeout_s = send_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.backoff_min, self.backoff_max = retry_backoff_s
        self.client_id = client_id
        self.compression = compression or best_compression()
        self._spool_kwargs = spool_kwargs or {}
        self._queue: collections.deque[QueuedItem] = collections.deque()
        self._wakeup = asyncio.Event()
        self._spool: Spool | None = None
        self._broker: Any = None
        self._task: asyncio.Task | None = None
        self._spooling = False
        self._accepting = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._backoff = self.backoff_min
        self._next_retry = 0.0
        self._bg: set[asyncio.Task] = set()
        self._m_emitted: dict[str, Any] = {}
        self._m_sent: dict[str, Any] = {}
        self.max_inflight = max_inflight
        self._inflight: collections.deque[tuple[list[QueuedItem], list, float]] = collections.deque()

    # ---- public interface (emit, publish: QueuedFront) -------------------------------------

    async def start(self) -> None:
        """Open the spool, try to connect (Kafka being down is not an error), start the sender."""
        self._spool = await asyncio.to_thread(
            open_exclusive, self.spool_dir, self.spool_max_bytes, name="kafka", **self._spool_kwargs)
        await asyncio.to_thread(self._spool.register_cursor, SPOOL_CURSOR)
        if self._spool.pending(SPOOL_CURSOR) > 0:
            log.warning("spool %s holds %d unsent event(s) from an earlier run; replaying",
                        self._spool.dir, self._spool.pending(SPOOL_CURSOR))
            self._set_spooling(True)
        if not await self._connect():
            log.warning("Kafka at %s unreachable at start; events go to the spool until it is back",
                        self.bootstrap)
            self._set_spooling(True)
        self._stopping = False
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="kafka-publisher")

    async def stop(self) -> None:
        """Drain (send, or spool and fsync) everything emitted so far; then close."""
        if self._task is None:
            return
        self._accepting = False
        self._stopping = True
        self._stop_deadline = time.monotonic() + self.drain_timeout_s
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task),
                                   self.drain_timeout_s + self.send_timeout_s + 5)
        except (asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001
            log.error("publisher sender did not finish draining: %s", type(exc).__name__)
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._task = None
        await self._evacuate_inflight()
        leftover = list(self._queue)
        self._queue.clear()
        if leftover:
            await self._to_spool(leftover)
        spool, self._spool = self._spool, None
        if spool is not None:
            pending = spool.pending(SPOOL_CURSOR)
            if pending:
                log.warning("publisher stopped with %d event(s) in the spool %s; the next start "
                            "replays them", pending, spool.dir)
            await asyncio.to_thread(spool.close)
        await self._drop_broker(wait=True)
        for t in list(self._bg):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(t, 5)
        metrics.PUBLISHER_QUEUE_DEPTH.set(0)

    # ---- state for tests and health ---------------------------------------------------------

    @property
    def spooling(self) -> bool:
        return self._spooling

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def spool_pending(self) -> int:
        return self._spool.pending(SPOOL_CURSOR) if self._spool is not None else 0

    async def wait_drained(self, timeout_s: float = 30.0) -> bool:
        """Until queue and spool are empty and the sender is in direct mode (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._queue and not self._spooling and self.spool_pending() == 0 \
                    and not self._in_flight and not self._inflight:
                return True
            await asyncio.sleep(0.02)
        return False

    _in_flight = False

    # ---- sender ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            metrics.PUBLISHER_QUEUE_DEPTH.set(len(self._queue))
            if self._stopping and not self._queue and not self._inflight and (
                    not self._spooling or time.monotonic() >= self._stop_deadline):
                return
            try:
                if self._spooling:
                    await self._spooling_step()
                else:
                    await self._direct_step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the sender must survive anything
                log.error("publisher sender error (%s); switching to the spool", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self._evacuate_inflight()
                self._set_spooling(True)
                self._schedule_retry()
                await asyncio.sleep(0.05)

    async def _direct_step(self) -> None:
        if not self._queue:
            if self._inflight:          # nothing new: collect acks of the oldest batch
                await self._settle_oldest()
                return
            self._wakeup.clear()
            if self._stopping:
                return
            await self._wakeup.wait()
            return
        self._in_flight = True     # between take() and the in-flight window (wait_drained)
        try:
            await self._direct_batch(self._take())
        finally:
            self._in_flight = False

    async def _direct_batch(self, batch: list[QueuedItem]) -> None:
        if len(self._queue) > self.high_water:
            log.warning("publisher queue backed up (%d waiting); spooling", len(self._queue))
            await self._settle_all()
            await self._to_spool(batch + self._take(len(self._queue)))
            self._set_spooling(True)
            self._next_retry = 0.0
            return
        futs, deadline = await self._hand_over(batch)
        self._inflight.append((batch, futs, deadline))
        if len(self._inflight) >= self.max_inflight:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        batch, futs, deadline = self._inflight.popleft()
        failed = await self._settle(batch, futs, deadline)
        if failed:
            # Everything handed over after the failure goes to the spool behind it (order kept;
            # whatever of it was acked anyway becomes a duplicate, deduplicated downstream).
            rest: list[QueuedItem] = []
            while self._inflight:
                b, fs, d = self._inflight.popleft()
                pending = [f for f in fs if f is not None and not f.done()]
                if pending:
                    await asyncio.wait(pending, timeout=max(0.0, d - time.monotonic()))
                rest.extend(b)
            await self._to_spool(failed + rest)
            self._set_spooling(True)
            self._schedule_retry()

    async def _evacuate_inflight(self) -> None:
        """Spool every handed-over batch without waiting (ack or not: at least once)."""
        items: list[QueuedItem] = []
        while self._inflight:
            items.extend(self._inflight.popleft()[0])
        await self._to_spool(items)

    async def _settle_all(self) -> None:
        while self._inflight and not self._spooling:
            await self._settle_oldest()

    async def _spooling_step(self) -> None:
        if self._queue:
            await self._to_spool(self._take(len(self._queue)))
        now = time.monotonic()
        if now < self._next_retry:
            if self._spool.unsynced:       # make the spooled tail durable before idling
                await asyncio.to_thread(self._spool.sync)
            if self._stopping and now >= self._stop_deadline:
                return
            self._wakeup.clear()
            wait = self._next_retry - now
            if self._stopping:
                wait = min(wait, max(0.0, self._stop_deadline - now))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)
            return
        ok, drained = await self._replay()
        if not ok:
            self._schedule_retry()
            return
        self._backoff = self.backoff_min
        if drained and not self._queue:
            log.info("spool drained; publishing directly to Kafka again")
            self._set_spooling(False)

    async def _replay(self) -> tuple[bool, bool]:
        """Send the next chunk of the spool; (all acked, spool now drained)."""
        spool = self._spool
        await asyncio.to_thread(spool.sync)
        cursor = spool.cursor(SPOOL_CURSOR) or 0
        res = await asyncio.to_thread(spool.read, cursor, self.replay_batch)
        if not res.entries:
            if res.next_seq > cursor:
                await asyncio.to_thread(spool.commit, SPOOL_CURSOR, res.next_seq)
            return True, res.next_seq >= spool.next_seq
        items = [QueuedItem(e.topic, e.key, e.value, e.timestamp_ms, e.seq) for e in res.entries]
        self._in_flight = True
        try:
            failed = await self._send(items)
        finally:
            self._in_flight = False
        if failed:
            first = failed[0].seq
            if first is not None and first > cursor:
                await asyncio.to_thread(spool.commit, SPOOL_CURSOR, first)
            return False, False
        await asyncio.to_thread(spool.commit, SPOOL_CURSOR, res.next_seq)
        return True, res.next_seq >= spool.next_seq

    async def _send(self, batch: list[QueuedItem]) -> list[QueuedItem]:
        """Publish a batch and wait for acks; returns the items not acknowledged, in order."""
        futs, deadline = await self._hand_over(batch)
        return await self._settle(batch, futs, deadline)

    async def _hand_over(self, batch: list[QueuedItem]) -> tuple[list[asyncio.Future | None], float]:
        """Give every item to the Kafka client (which batches them); futures resolve on ack."""
        futs: list[asyncio.Future | None] = [None] * len(batch)
        deadline = time.monotonic() + self.send_timeout_s
        if self._broker is None and not await self._connect():
            return futs, deadline
        broker = self._broker
        try:
            for i, it in enumerate(batch):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                fut = await asyncio.wait_for(
                    broker.publish(it.value, it.topic, key=it.key, timestamp_ms=it.ts,
                                   no_confirm=True),
                    remaining)
                fut.add_done_callback(_consume_exception)
                futs[i] = fut
        except Exception as exc:  # noqa: BLE001 - the rest counts as failed
            log.warning("publish to Kafka failed: %s", type(exc).__name__)
        return futs, deadline

    async def _settle(self, batch: list[QueuedItem], futs: list[asyncio.Future | None],
                      deadline: float) -> list[QueuedItem]:
        """Wait (until ``deadline``) for a handed-over batch; returns the unacked tail in order."""
        pending = [f for f in futs if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        failed: list[QueuedItem] = []
        for it, fut in zip(batch, futs):
            if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
                if not failed:
                    self._count_sent(it.topic)
                else:
                    # Acked after an earlier failure: kept with the failed tail so order holds;
                    # the duplicate is deduplicated downstream (eventId).
                    failed.append(it)
            else:
                failed.append(it)
        if failed:
            exc = next((f.exception() for f in futs if f is not None and f.done()
                        and not f.cancelled() and f.exception() is not None), None)
            log.warning("%d of %d event(s) not acknowledged by Kafka (%s); spooling",
                        len(failed), len(batch), type(exc).__name__ if exc else "timeout")
            await self._drop_broker(wait=False)
        return failed

    async def _to_spool(self, items: list[QueuedItem]) -> None:
        if not items:
            return
        spool = self._spool
        if spool is None:
            for it in items:
                self._drop("stopped", it.topic)
            return
        try:
            seqs = await asyncio.to_thread(
                spool.append_many, [(i.topic, i.key, i.value, i.ts) for i in items])
        except Exception as exc:  # noqa: BLE001 - disk error: counted and reported, not raised
            metrics.PUBLISHER_DROPPED.labels("write_error").inc(len(items))
            log.error("EVENTS DROPPED: %d event(s) could not be written to the spool %s (%s)",
                      len(items), spool.dir, type(exc).__name__)
            return
        lost = sum(1 for s in seqs if s is None)
        if lost:
            metrics.PUBLISHER_DROPPED.labels("spool_full").inc(lost)

    def _take(self, n: int | None = None) -> list[QueuedItem]:
        n = min(len(self._queue), n if n is not None else self.batch_max)
        q = self._queue
        return [q.popleft() for _ in range(n)]

    # ---- connection ------------------------------------------------------------------------

    async def _connect(self) -> bool:
        from faststream.kafka import KafkaBroker

        broker = KafkaBroker(
            self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            compression_type=self.compression,
            max_batch_size=512 * 1024,
            request_timeout_ms=max(1000, int(self.send_timeout_s * 1000)),
            retry_backoff_ms=100,
            client_id=self.client_id,
            logger=None,
        )
        try:
            await asyncio.wait_for(broker.connect(), self.connect_timeout_s)
        except Exception as exc:  # noqa: BLE001 - unreachable Kafka is an expected state
            log.warning("cannot connect to Kafka at %s: %s", self.bootstrap, type(exc).__name__)
            self._background(self._close_broker(broker))
            return False
        self._broker = broker
        return True

    async def _drop_broker(self, *, wait: bool) -> None:
        broker, self._broker = self._broker, None
        if broker is None:
            return
        if wait:
            await self._close_broker(broker)
        else:
            self._background(self._close_broker(broker))

    async def _close_broker(self, broker: Any) -> None:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(broker.stop(), 10)

    def _background(self, coro) -> None:
        t = asyncio.create_task(coro)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)

    # ---- helpers ---------------------------------------------------------------------------

    def _set_spooling(self, on: bool) -> None:
        self._spooling = on
        metrics.PUBLISHER_SPOOLING.set(1 if on else 0)

    def _schedule_retry(self) -> None:
        self._next_retry = time.monotonic() + self._backoff
        self._backoff = min(self.backoff_max, self._backoff * 2)

    def _count_sent(self, topic: str) -> None:
        m = self._m_sent.get(topic)
        if m is None:
            m = self._m_sent[topic] = metrics.PUBLISHER_SENT.labels(topic)
        m.inc()


def _consume_exception(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()
