"""Forward the local event log to Kafka exactly once; trim what Kafka committed.

One background task per log (the process holding ``<log>.ship.lock``: gateway processes that
share a data dir ship it once). It owns one transactional ``AIOKafkaProducer`` whose
``transactional_id`` is derived from the log's id (``tollgate-shipper-<id>``), so every new
producer for this log (after a restart, a SIGKILL, a broker outage) fences its predecessor:
Kafka finishes or aborts whatever that one left open, and nothing it still had in flight can be
appended afterwards.

Each round is one transaction: the next chunk of every topic (key and timestamp kept, so a key
stays on its partition and in order) and, as the committed offset of the shipper's own group
(``tollgate-shipper-<id>``, partition 0 of each topic; an event-log position, not a Kafka
offset), the log position after the chunk. Consumers read with
``isolation_level="read_committed"``: a chunk is seen entirely, once, or not at all. After the
commit the local cursor moves (the bus trims what every reader is past); when a process dies
between the two, the next shipper reads the group's offsets back (final once the fence
returned) and moves the cursor there. Any failure — an error, no commit within ``txn_s``, a
broker restart — drops the producer; the next one fences, reads the positions back and
re-sends from there. So a kill or an outage neither loses nor duplicates an event.

While Kafka is down the log grows and the outage is logged once per ``outage_log_s``
(aiokafka's own per-retry lines are rate-limited by ``quiet_aiokafka``). ``stop(timeout)``
ships what it can within ``timeout`` (at once during an outage), aborts an unfinished
transaction and leaves the rest in the log for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from typing import Any

from core import metrics
from eventlog.kafka_support import best_compression, committed_positions, quiet_aiokafka
from eventlog.store import EventLog

__all__ = ["CURSOR", "KafkaShipper", "best_compression", "quiet_aiokafka"]

log = logging.getLogger("tollgate.eventlog.shipper")

CURSOR = "kafka"


class KafkaShipper:
    """See the module docstring. ``start()`` returns at once; nothing here needs Kafka up."""

    def __init__(
        self,
        eventlog: EventLog,
        bootstrap: str,
        *,
        client_id: str = "tollgate",
        chunk: int = 5000,
        linger_ms: int = 5,
        connect_timeout_s: float = 5.0,
        fence_timeout_s: float = 20.0,
        txn_s: float = 10.0,
        outage_log_s: float = 30.0,
        backoff_s: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.log = eventlog
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.chunk = chunk
        self.linger_ms = linger_ms
        self.connect_timeout_s = connect_timeout_s
        self.fence_timeout_s = fence_timeout_s
        self.txn_s = txn_s
        self.outage_log_s = outage_log_s
        self.backoff_min, self.backoff_max = backoff_s
        self.wake = asyncio.Event()
        self.shipped = 0
        self.transactions = 0
        self._producer: Any = None
        self._txn_open = False
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._stop_deadline = 0.0
        self._lock_fd: int | None = None
        self._outage_since: float | None = None
        self._outage_logged = 0.0
        self._compression = best_compression()
        self._ident = b""
        self.group = ""

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        quiet_aiokafka()
        self._stopping = False
        self._ident = self.log.identity().encode()
        self.group = f"tollgate-shipper-{self._ident.decode()}"
        self._task = asyncio.create_task(self._run(), name="eventlog-shipper")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ship what it can until ``timeout_s``; uncommitted records stay in the log."""
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
        """Records not yet committed to Kafka (all topics; blocking, cheap)."""
        total = 0
        for t in self.log.topics():
            st = self.log.state(t)
            total += st.next - (self.log.cursor(t, CURSOR) or st.first)
        return total

    async def wait_shipped(self, timeout_s: float = 30.0) -> bool:
        """Until every stored record is committed to Kafka (tests, benchmarks)."""
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        return self._stopping and time.monotonic() >= self._stop_deadline

    def _position(self, topic: str) -> int:
        pos = self.log.cursor(topic, CURSOR)
        if pos is None:
            pos = self.log.state(topic).first
            self.log.commit(topic, CURSOR, pos)
        return pos

    async def _ship_round(self) -> bool:
        """One transaction over the next chunk of every topic; False when there was nothing.
        Raises (the producer is then dropped) when it could not commit within ``txn_s``."""
        # Inline on the loop: each call is a few index lookups or one bounded read; a
        # worker-thread hop per call costs more (GIL hand-offs land inside emit()).
        chunks = []
        for topic in self.log.topics():
            records = self.log.read(topic, self._position(topic), self.chunk)
            if records:
                chunks.append((topic, records))
            else:
                metrics.EVENTLOG_UNSHIPPED.labels(topic).set(0)
        if not chunks:
            return False
        limit = self.txn_s
        if self._stopping:
            limit = min(limit, max(0.0, self._stop_deadline - time.monotonic()))
        # Until the commit is asked for, giving up is safe: the next producer's fence aborts it.
        await asyncio.wait_for(self._send(chunks), limit)
        await self._commit()
        for topic, records in chunks:
            nxt = records[-1].offset + 1
            self.log.commit(topic, CURSOR, nxt)
            metrics.EVENTLOG_UNSHIPPED.labels(topic).set(max(0, self.log.state(topic).next - nxt))
            metrics.PUBLISHER_SENT.labels(topic).inc(len(records))
            self.shipped += len(records)
        self.transactions += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("committed %s", [(t, r[0].offset, r[-1].offset) for t, r in chunks])
        self._outage_over()
        return True

    async def _send(self, chunks: list) -> None:
        """Records and positions into the open transaction, every record acknowledged."""
        from aiokafka import TopicPartition

        prod = self._producer
        if not self._txn_open:
            await prod.begin_transaction()
            self._txn_open = True
        futs = []
        ident = self._ident
        for _topic, records in chunks:
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
        positions = {TopicPartition(t, 0): records[-1].offset + 1 for t, records in chunks}
        await prod.send_offsets_to_transaction(positions, self.group)
        await asyncio.gather(*futs)  # the first failed send raises here

    async def _commit(self) -> None:
        """Commit and wait for the outcome: once asked, the commit may land at any time (also
        after a broker restart), so the cursor must not be left behind it. Its outcome is known
        unless stopping cuts it short; then the next start reads the committed positions back."""
        commit = asyncio.ensure_future(self._producer.commit_transaction())
        while True:
            timeout = 5.0
            if self._stopping:
                timeout = max(0.0, self._stop_deadline - time.monotonic())
            done, _ = await asyncio.wait({commit}, timeout=timeout)
            if done:
                commit.result()  # raises when it failed (aborted by Kafka: sent again)
                self._txn_open = False
                return
            if self._stopping and time.monotonic() >= self._stop_deadline:
                commit.cancel()
                raise TimeoutError("stopping with a commit unanswered")
            self._note_outage(None)

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
        """A new transactional producer: fence the previous one, then move each topic's cursor
        to what Kafka committed (a commit whose cursor write a kill interrupted)."""
        from aiokafka import AIOKafkaProducer

        prod = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            transactional_id=self.group,
            transaction_timeout_ms=int(2 * self.txn_s * 1000),
            linger_ms=self.linger_ms,
            compression_type=self._compression,
            max_batch_size=512 * 1024,
            retry_backoff_ms=100,
            request_timeout_ms=30_000,
            client_id=self.client_id,
        )
        self._producer = prod
        try:
            # start() connects and fences: InitProducerId returns once the predecessor's
            # transaction is committed or aborted (and its offsets are settled).
            await asyncio.wait_for(prod.start(), self.fence_timeout_s)
            await asyncio.wait_for(prod.begin_transaction(), self.connect_timeout_s)
            self._txn_open = True
            topics = self.log.topics()
            committed = await committed_positions(self.bootstrap, self.group, topics, self.connect_timeout_s)
        except asyncio.CancelledError:
            await self._drop_producer()
            raise
        except Exception as exc:  # noqa: BLE001 - Kafka down is an expected state
            self._note_outage(exc)
            await self._drop_producer()
            return False
        log.debug("fenced; committed positions %s", committed)
        for topic, nxt in committed.items():
            pos = self._position(topic)
            if nxt > pos:
                log.warning(
                    "%d record(s) of %s were committed to Kafka before the shipper stopped; they are not sent again",
                    nxt - pos,
                    topic,
                )
                self.log.commit(topic, CURSOR, nxt)
        return True

    async def _drop_producer(self) -> None:
        """Abort what is open (briefly: Kafka may be gone; the next fence aborts it anyway) and
        close the producer, cancelling its retries if it cannot flush."""
        prod, self._producer = self._producer, None
        txn_open, self._txn_open = self._txn_open, False
        if prod is None:
            return
        if txn_open and self._outage_since is None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(prod.abort_transaction(), 2)
        try:
            await asyncio.wait_for(prod.stop(), 2)
        except BaseException:  # noqa: BLE001 - a flush that cannot finish: stop its retries
            sender = getattr(getattr(prod, "_sender", None), "sender_task", None)
            if sender is not None:
                sender.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(prod.client.close(), 2)

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
