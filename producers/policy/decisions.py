"""Gateway-side subscription to the compacted decisions topic (`tollgate.decisions.v1`).

Every gateway process reads the whole topic from the beginning when it starts (no consumer
group, no commits: it assigns itself every partition), so it learns every subject currently
blocked, then keeps tailing it and hands each decision to `GatewayPolicyHooks.apply_decision`
on the gateway's event loop. Polls with a 100 ms fetch wait, so a decision is in force on
every gateway well within 1 s of being published. `start()` waits until the backlog up to the
end offsets seen at start has been applied (bounded by `catch_up_timeout_s`), but never for a
broker that is down: the feed then connects in the background (a gateway starts and serves
during a Kafka outage) and the outage is logged once per `outage_log_s`.

Embedded mode (no Kafka): the same handler reads the local event log (a per-process reader
from the earliest record; the log keeps the newest decision per subject).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from core.kafka_admin import ensure_topics
from schemas import topics
from schemas.events import Decision
from schemas.records import Record

log = logging.getLogger("tollgate.policy.decisions")


class DecisionSubscriber:
    """Component: feeds decisions into the gateway's policy hooks (see module docstring)."""

    name = "policy-decisions"

    def __init__(
        self,
        settings: Any,
        hooks: Any,
        *,
        bus: Any = None,
        topic: str = topics.DECISIONS,
        catch_up_timeout_s: float = 15.0,
        outage_log_s: float = 30.0,
    ):
        self.settings = settings
        self.hooks = hooks
        self.bus = bus
        self.topic = topic
        self.catch_up_timeout_s = catch_up_timeout_s
        self.outage_log_s = outage_log_s
        self._settled = asyncio.Event()
        self.applied = 0
        self._consumer: Any = None
        self._task: asyncio.Task | None = None

    def apply_records(self, records: Sequence[Record]) -> int:
        """Decode and apply; undecodable records are logged and skipped (never stop the feed)."""
        n = 0
        for r in records:
            if not r.value:
                continue  # tombstone
            try:
                d = Decision.from_wire(r.value)
            except ValueError:
                log.warning("undecodable decision at %s[%d]@%d skipped", r.topic, r.partition, r.offset)
                continue
            self.hooks.apply_decision(d)
            n += 1
        self.applied += n
        return n

    async def _on_bus(self, records: list[Record]) -> None:
        self.apply_records(records)

    async def start(self) -> None:
        if not self.settings.kafka_bootstrap:
            if self.bus is None:
                log.warning("no Kafka and no in-process bus: decisions are not applied")
                return
            self.bus.subscribe(
                self.topic,
                self._on_bus,
                max_wait_ms=0,
                durable=False,
                name=f"decisions-{self.settings.resolved_gateway_id}",
            )
            return
        self._settled = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="policy-decisions")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self.catch_up_timeout_s)

    async def _connect(self) -> None:
        """Consumer on every partition from the beginning; apply the backlog seen at start."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        boot = self.settings.kafka_bootstrap
        await asyncio.wait_for(ensure_topics(boot, [self.topic]), 10)
        c = AIOKafkaConsumer(
            bootstrap_servers=boot,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=100,
            client_id=f"tollgate-decisions-{self.settings.resolved_gateway_id}",
        )
        self._consumer = c
        await c.start()
        parts: set[int] | None = None
        deadline = time.monotonic() + self.catch_up_timeout_s
        while not parts and time.monotonic() < deadline:
            cluster = await c._client.fetch_all_metadata()  # `topics()` would not keep the partitions
            parts = cluster.partitions_for_topic(self.topic)
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts or ())]
        if not tps:
            raise RuntimeError(f"topic {self.topic} has no partitions")
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        ends = await c.end_offsets(tps)
        while time.monotonic() < deadline:
            positions = {tp: await c.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                break
            await self._poll_once()
        else:
            log.warning(
                "decisions backlog not fully read within %.0fs; continuing in the background", self.catch_up_timeout_s
            )

    async def _poll_once(self) -> None:
        batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
        for tp, msgs in batch.items():
            self.apply_records(
                [Record(tp.topic, tp.partition, m.offset, m.key, m.value or b"", m.timestamp) for m in msgs]
            )

    async def _run(self) -> None:
        """Connect (retrying while Kafka is down), then tail the topic; never gives up."""
        since: float | None = None
        logged = 0.0
        while True:
            try:
                if self._consumer is None:
                    await self._connect()
                    if since is not None:
                        log.warning("decisions feed connected to Kafka after %.0fs", time.monotonic() - since)
                    since = None
                    self._settled.set()
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep the feed alive; the broker may return
                self._settled.set()
                now = time.monotonic()
                since = since if since is not None else now
                if now - logged >= self.outage_log_s:
                    logged = now
                    log.warning(
                        "decisions feed: Kafka unavailable for %.0fs (%s); retrying", now - since, type(exc).__name__
                    )
                await self._close_consumer()
                await asyncio.sleep(1.0)

    async def _close_consumer(self) -> None:
        c, self._consumer = self._consumer, None
        if c is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(c.stop(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        await self._close_consumer()
