"""Forward the local event log to Kafka; trim what Kafka acknowledged.

One background task per process (the one holding ``<log>.ship.lock``: gateway processes that
share a data dir ship it once). For each topic it reads the log from its ``kafka`` cursor,
hands the records to one long-lived idempotent ``AIOKafkaProducer`` (acks=all, key and
timestamp kept, so a key stays on its partition and in order) and, once every record of the
chunk is acknowledged, commits the cursor (the bus trims what every reader is past). While Kafka is down the producer retries
the same batches (idempotence: a batch that landed before the outage is not written twice),
the log grows, and the outage is logged once per ``outage_log_s`` (aiokafka's own per-record
ERROR lines are rate-limited by ``quiet_aiokafka``).

Never twice: every record carries the log's id and its offset as headers, and before a chunk
is handed over its last offset is written down (``inflight:<topic>``). When a process died or
stopped with a chunk unacknowledged (or the producer had to be replaced), the next shipper
reads the topic back from that chunk's first timestamp (``reconcile``, once the hand-over is
``settle_s`` old, so a request the dead producer sent cannot still be appended afterwards),
finds which of those records did land, and skips them: so a kill or an outage never
duplicates an event.

``stop(timeout)`` ships what it can within ``timeout`` (at once during an outage) and leaves
the rest in the log for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from typing import Any

from aiokafka import codec as _codec

from core import metrics
from eventlog.store import EventLog

log = logging.getLogger("tollgate.eventlog.shipper")

CURSOR = "kafka"


def best_compression() -> str:
    """zstd, else lz4 (both need cramjam), else gzip — what aiokafka can do here."""
    if _codec.has_zstd():
        return "zstd"
    if _codec.has_lz4():
        return "lz4"
    return "gzip"


class _RateLimit(logging.Filter):
    """Let one record per (logger, message template) through per ``interval_s``."""

    def __init__(self, interval_s: float) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval_s:
            return False
        self._last[key] = now
        return True


_QUIET = _RateLimit(30.0)


def quiet_aiokafka() -> None:
    """Rate-limit aiokafka's log lines (an outage otherwise logs one ERROR per retry)."""
    for name in (
        "aiokafka",
        "aiokafka.conn",
        "aiokafka.client",
        "aiokafka.producer.sender",
        "aiokafka.producer.producer",
        "aiokafka.consumer.fetcher",
        "aiokafka.consumer.group_coordinator",
    ):
        lg = logging.getLogger(name)
        if _QUIET not in lg.filters:
            lg.addFilter(_QUIET)


class KafkaShipper:
    """See the module docstring. ``start()`` returns at once; nothing here needs Kafka up."""

    def __init__(
        self,
        eventlog: EventLog,
        bootstrap: str,
        *,
        client_id: str = "tollgate",
        chunk: int = 2000,
        linger_ms: int = 5,
        connect_timeout_s: float = 5.0,
        outage_log_s: float = 30.0,
        backoff_s: tuple[float, float] = (0.2, 5.0),
        settle_s: float = 5.0,
    ) -> None:
        self.log = eventlog
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.chunk = chunk
        self.linger_ms = linger_ms
        self.connect_timeout_s = connect_timeout_s
        self.outage_log_s = outage_log_s
        self.settle_s = settle_s
        self.backoff_min, self.backoff_max = backoff_s
        self.wake = asyncio.Event()
        self.shipped = 0
        self._producer: Any = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._stop_deadline = 0.0
        self._lock_fd: int | None = None
        self._outage_since: float | None = None
        self._outage_logged = 0.0
        self._compression = best_compression()
        self._ident = b""
        self._reconciled = False
        self._dropped_ms = 0
        self._skip: dict[str, set[int]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        quiet_aiokafka()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="eventlog-shipper")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ship what it can until ``timeout_s``; unacknowledged records stay in the log."""
        if self._task is None:
            return
        self._stopping = True
        # During an outage there is nothing to wait for: the records stay in the log.
        self._stop_deadline = time.monotonic() + (0.0 if self._outage_since is not None else timeout_s)
        self.wake.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s + 1)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._task = None
        await self._drop_producer()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def pending(self) -> int:
        """Records not yet acknowledged by Kafka (all topics; blocking, cheap)."""
        total = 0
        for t in self.log.topics():
            st = self.log.state(t)
            total += st.next - (self.log.cursor(t, CURSOR) or st.first)
        return total

    async def wait_shipped(self, timeout_s: float = 30.0) -> bool:
        """Until every stored record is acknowledged (tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.pending) == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    # ---- loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.backoff_min
        while True:
            if self._stopping and (time.monotonic() >= self._stop_deadline):
                return
            if not await self._own_lock():
                if await self._idle(1.0):
                    return
                continue
            if self._producer is None and not await self._connect():
                if await self._idle(backoff):
                    return
                backoff = min(self.backoff_max, backoff * 2)
                continue
            backoff = self.backoff_min
            try:
                if not self._reconciled:
                    if not await self._reconcile_all():
                        return  # stopping: the uncertain records stay in the log
                    self._reconciled = True
                moved = await self._ship_round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the shipper survives anything
                self._note_outage(exc)
                await self._drop_producer()
                if await self._idle(self.backoff_min):
                    return
                continue
            if not moved:
                if self._stopping:
                    return
                await self._idle(0.5)

    async def _idle(self, seconds: float) -> bool:
        """Wait for an emit (or ``seconds``); True when stopping and past the deadline."""
        self.wake.clear()
        if self._stopping:
            seconds = min(seconds, max(0.0, self._stop_deadline - time.monotonic()))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        return self._stopping and time.monotonic() >= self._stop_deadline

    async def _ship_round(self) -> bool:
        moved = False
        for topic in self.log.topics():
            # Inline on the loop: each call is a few index lookups or one bounded read; a
            # worker-thread hop per call costs more (GIL hand-offs land inside emit()).
            pos = self.log.cursor(topic, CURSOR)
            if pos is None:
                pos = self.log.state(topic).first
                self.log.commit(topic, CURSOR, pos)
            records = self.log.read(topic, pos, self.chunk)
            if not records:
                metrics.EVENTLOG_UNSHIPPED.labels(topic).set(0)
                continue
            skip = self._skip.get(topic)
            if skip:
                landed = [r for r in records if r.offset in skip]
                records = [r for r in records if r.offset not in skip]
                skip.difference_update(r.offset for r in landed)
                if not records:  # everything here had landed before: just move on
                    self.log.commit(topic, CURSOR, landed[-1].offset + 1)
                    moved = True
                    continue
            self.log.set_meta(f"inflight:{topic}", f"{records[-1].offset} {int(time.time() * 1000)}")
            acked = await self._send(records)
            if acked:
                nxt = records[acked - 1].offset + 1
                self.log.commit(topic, CURSOR, nxt)
                st = self.log.state(topic)
                metrics.EVENTLOG_UNSHIPPED.labels(topic).set(max(0, st.next - nxt))
                metrics.PUBLISHER_SENT.labels(topic).inc(acked)
                self.shipped += acked
                moved = True
            if acked < len(records):
                return moved
        return moved

    async def _send(self, records: list) -> int:
        """Hand a chunk over and wait for the acks; returns how many of its first records were
        acknowledged (all, or fewer when stopping during an outage or on a fatal error)."""
        prod = self._producer
        futs = []
        ident = self._ident
        for r in records:
            futs.append(
                await prod.send(
                    r.topic,
                    r.value,
                    key=r.key,
                    timestamp_ms=r.timestamp_ms,
                    headers=[("tg-log", ident), ("tg-off", b"%d" % r.offset)],
                )
            )
        pending = set(futs)
        while pending:
            timeout = 5.0
            if self._stopping:
                timeout = max(0.0, self._stop_deadline - time.monotonic())
            done, pending = await asyncio.wait(pending, timeout=timeout)
            if pending:
                if self._stopping and time.monotonic() >= self._stop_deadline:
                    break
                self._note_outage(None)
        acked = 0
        for f in futs:
            if not f.done() or f.cancelled() or f.exception() is not None:
                break
            acked += 1
        failed = next(
            (f.exception() for f in futs if f.done() and not f.cancelled() and f.exception() is not None), None
        )
        if failed is not None:
            raise failed
        if acked == len(futs):
            self._outage_over()
        return acked

    # ---- never twice -----------------------------------------------------------------------

    async def _reconcile_all(self) -> bool:
        """For each topic with a chunk handed over but not acknowledged: which of it landed.
        False when asked to stop meanwhile."""
        self._ident = self.log.identity().encode()
        for topic in self.log.topics():
            pos = self.log.cursor(topic, CURSOR)
            marker = self.log.meta(f"inflight:{topic}")
            if pos is None or marker is None:
                continue
            last, handed_ms = (int(x) for x in marker.split())
            handed_ms = max(handed_ms, self._dropped_ms)  # a replaced producer may still flush
            if last < pos:
                continue
            first = self.log.read(topic, pos, 1)
            if not first:
                continue
            # A request the dead producer sent may still be appended by a busy broker: read back
            # only once the hand-over is `settle_s` old.
            until = time.monotonic() + self.settle_s - (time.time() * 1000 - handed_ms) / 1000
            while time.monotonic() < until:
                if self._stopping:
                    return False
                await asyncio.sleep(min(0.1, until - time.monotonic()))
            landed = await self._landed(topic, first[0].timestamp_ms, pos, last)
            self._skip[topic] = landed
            log.warning(
                "%d of the %d record(s) of %s handed to Kafka before a restart had landed; they are not sent again",
                len(landed),
                last - pos + 1,
                topic,
            )
        return True

    async def _landed(self, topic: str, since_ms: int, lo: int, hi: int) -> set[int]:
        """Offsets in [lo, hi] of this log found on ``topic`` (read from ``since_ms`` - 60 s)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        c = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{self.client_id}-reconcile",
        )
        found: set[int] = set()
        try:
            await asyncio.wait_for(c.start(), self.connect_timeout_s)
            parts = c.partitions_for_topic(topic)
            if not parts:
                await c._client.force_metadata_update()
                parts = c.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                return found
            c.assign(tps)
            ends = await c.end_offsets(tps)
            starts = await c.offsets_for_times({tp: max(0, since_ms - 60_000) for tp in tps})
            todo = {}
            for tp in tps:
                at = starts.get(tp)
                if at is not None and at.offset < ends[tp]:
                    c.seek(tp, at.offset)
                    todo[tp] = ends[tp]
            while todo:
                batch = await c.getmany(*todo, timeout_ms=1000, max_records=10_000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        h = dict(m.headers or ())
                        if h.get("tg-log") == self._ident:
                            off = int(h.get("tg-off", b"-1"))
                            if lo <= off <= hi:
                                found.add(off)
                    if msgs and msgs[-1].offset + 1 >= todo.get(tp, 0):
                        todo.pop(tp, None)
                for tp in list(todo):
                    if await c.position(tp) >= todo[tp]:
                        todo.pop(tp)
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(c.stop(), 5)
        return found

    # ---- producer --------------------------------------------------------------------------

    async def _own_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        fd = os.open(f"{self.log.path}.ship.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def _connect(self) -> bool:
        from aiokafka import AIOKafkaProducer

        prod = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            compression_type=self._compression,
            max_batch_size=512 * 1024,
            retry_backoff_ms=200,
            request_timeout_ms=30_000,
            client_id=self.client_id,
        )
        try:
            await asyncio.wait_for(prod.start(), self.connect_timeout_s)
        except Exception as exc:  # noqa: BLE001 - Kafka down is an expected state
            self._note_outage(exc)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(prod.stop(), 2)
            return False
        self._producer = prod
        return True

    async def _drop_producer(self) -> None:
        prod, self._producer = self._producer, None
        self._reconciled = False  # what it had in flight may or may not have landed
        if prod is not None:
            self._dropped_ms = int(time.time() * 1000)  # reconcile only after it settled
            try:
                await asyncio.wait_for(prod.stop(), 2)
            except BaseException:  # noqa: BLE001 - a flush that cannot finish: stop its retries
                sender = getattr(getattr(prod, "_sender", None), "sender_task", None)
                if sender is not None:
                    sender.cancel()

    def _note_outage(self, exc: BaseException | None) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            metrics.KAFKA_OUTAGE.set(1)
        if now - self._outage_logged >= self.outage_log_s:
            self._outage_logged = now
            log.warning(
                "Kafka at %s unreachable for %.0fs (%s); events wait in the local log %s",
                self.bootstrap,
                now - self._outage_since,
                type(exc).__name__ if exc else "no acknowledgement",
                self.log.path,
            )

    def _outage_over(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "Kafka at %s reachable again after %.0fs; shipping the local log",
                self.bootstrap,
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
            self._outage_logged = 0.0
            metrics.KAFKA_OUTAGE.set(0)
