"""Metering transport wiring: a FastStream Kafka batch subscriber with manual acks, or the
in-process bus when no Kafka is configured. One handler (`MeteringHandler`) serves both.

Kafka path (steps): getmany batch -> decode + validate (`predecode`, on the loop) ->
`MeteringHandler.handle` (ClickHouse insert, idempotent) -> commit exactly the offsets it
returned. Depth-1 pipeline: batch N+1 is decoded while batch N's insert runs on the warehouse
thread (the engine releases the GIL); N+1 is inserted only after N was inserted and committed,
and a rebalance or stop waits for the batch in flight first. On insert failure the same batch is retried with
exponential backoff; when an attempt is given up (time budget spent or shutting down) every
partition of the batch is sought back to its first offset, so nothing is skipped and nothing
past a failed batch is committed. Invalid events go to `tollgate.dlq.v1`; they never stop a
partition. `run_metering(settings)` blocks until SIGINT/SIGTERM (`tollgate consume metering`);
`MeteringConsumer` is the component `tollgate up` starts (`async start()/stop()`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream.kafka.annotations import KafkaMessage

from consumers.metering import DEFAULT_KINDS, MeteringHandler, predecode
from core.kafka_admin import ensure_topics
from core.retry import retrying
from core.settings import Settings
from schemas import topics
from schemas.events import DeadLetter
from schemas.records import Record

log = logging.getLogger("tollgate.metering")

GROUP_ID = "tollgate-metering"


class _Rebalance(ConsumerRebalanceListener):
    """Partition ownership changed: finish the batch in flight (its commit must land before the
    partitions go), then forget their state (reloaded from the ingest log)."""

    def __init__(self, handler: MeteringHandler, owner: MeteringConsumer | None = None):
        self.handler = handler
        self.owner = owner

    async def on_partitions_revoked(self, revoked):
        if self.owner is not None:
            await self.owner.wait_inflight()
        self.handler.reset((tp.topic, tp.partition) for tp in revoked)

    async def on_partitions_assigned(self, assigned):
        self.handler.reset((tp.topic, tp.partition) for tp in assigned)


async def _no_decode(_msg: Any) -> None:
    """The handler reads raw record bytes; skip FastStream's per-message JSON decode."""
    return None


class MeteringConsumer:
    """Component: Kafka batch subscriber when `settings.kafka_bootstrap` is set, else the
    in-process bus (`bus.subscribe(topic, handler)`). `start()` returns once subscribed."""

    name = "metering-consumer"

    def __init__(
        self,
        settings: Settings,
        warehouse: Any,
        *,
        bus: Any = None,
        group_id: str = GROUP_ID,
        topic_kinds: dict[str, str] | None = None,
        dlq_topic: str = topics.DLQ,
        max_records: int = 20_000,
        fetch_min_bytes: int = 1_000_000,
        fetch_max_wait_ms: int = 200,
        max_partition_fetch_bytes: int = 16 * 1024 * 1024,
        retry_budget_s: float = 60.0,
        auto_offset_reset: str = "earliest",
    ):
        self.settings = settings
        self.warehouse = warehouse
        self.bus = bus
        self.group_id = group_id
        self.kinds = dict(DEFAULT_KINDS if topic_kinds is None else topic_kinds)
        self.dlq_topic = dlq_topic
        self.max_records = max_records
        self.fetch_min_bytes = fetch_min_bytes
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_partition_fetch_bytes = max_partition_fetch_bytes
        self.retry_budget_s = retry_budget_s
        self.auto_offset_reset = auto_offset_reset
        self.kafka = bool(settings.kafka_bootstrap)
        # The in-process bus keeps durable, ever-growing offsets (partition 0) and redelivers
        # from its cursor after a crash, so the ingest log makes that path exactly-once too.
        # A bus without durable offsets says so with `durable_offsets = False`.
        exactly_once = self.kafka or bool(getattr(bus, "durable_offsets", True))
        self.handler = MeteringHandler(warehouse, dlq=self._publish_dlq, exactly_once=exactly_once, kinds=self.kinds)
        self.broker: Any = None
        self._inflight: asyncio.Future | None = None
        self._stopping = False
        self._seeks = 0  # batches given up and sought back (fetched-ahead batches are then stale)
        self.batches = 0
        self.records = 0
        self.commit_failures = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        if self.kafka:
            await self._start_kafka()
        else:
            if self.bus is None:
                raise RuntimeError("no Kafka bootstrap and no in-process bus given")
            for topic in self.kinds:
                self.bus.subscribe(topic, self._on_bus_records)

    async def stop(self) -> None:
        self._stopping = True
        await self.wait_inflight()
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.stop()

    # -- Kafka -------------------------------------------------------------------------------
    async def _start_kafka(self) -> None:
        from faststream import AckPolicy
        from faststream.kafka import KafkaBroker

        # Fails fast (and cleanly) while Kafka is down, before FastStream opens its producer.
        await ensure_topics(self.settings.kafka_bootstrap, [*self.kinds, self.dlq_topic])
        broker = KafkaBroker(self.settings.kafka_bootstrap, logger=None)
        sub = broker.subscriber(
            *self.kinds,
            batch=True,
            group_id=self.group_id,
            ack_policy=AckPolicy.MANUAL,
            max_records=self.max_records,
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            batch_timeout_ms=self.fetch_max_wait_ms,
            max_partition_fetch_bytes=self.max_partition_fetch_bytes,
            auto_offset_reset=self.auto_offset_reset,
            isolation_level="read_committed",  # the shipper writes in transactions
            listener=_Rebalance(self.handler, self),
            decoder=_no_decode,
        )
        sub(self._on_kafka_batch)
        self.broker = broker
        await broker.start()

    async def _on_kafka_batch(self, msg: KafkaMessage) -> None:
        """FastStream batch handler: `msg.raw_message` is the getmany() tuple of records.
        Decodes this batch while the previous one is inserted, then hands it over and returns
        (the next getmany overlaps this batch's insert; commits stay in batch order)."""
        records = _records(msg.raw_message)
        seeks = self._seeks
        decoded = await predecode(records, self.kinds)
        await self.wait_inflight()
        if self._seeks != seeks:
            # The batch in flight gave up and sought back: this one was fetched past its records
            # and must not be applied (its slices would be logged above a gap, and the ingest log
            # would take the gap for counted). The consumer reads them again from the seek.
            return
        self._inflight = asyncio.ensure_future(self.process_batch(records, msg.consumer, decoded))

    async def wait_inflight(self) -> None:
        """Until the batch in flight is inserted and committed (or sought back). Never raises."""
        fut, self._inflight = self._inflight, None
        if fut is not None:
            try:
                await asyncio.shield(fut)
            except Exception:  # noqa: BLE001 - process_batch logs its own failures
                log.exception("metering batch task failed")

    async def _publish_dlq(self, dead: list[DeadLetter]) -> None:
        if self.kafka and self.broker is not None:
            for d in dead:
                await self.broker.publish(d.to_wire(), topic=self.dlq_topic, key=d.topic.encode())
        elif self.bus is not None and hasattr(self.bus, "publish"):
            for d in dead:
                res = self.bus.publish(self.dlq_topic, d.to_wire(), key=d.topic.encode())
                if asyncio.iscoroutine(res):
                    await res

    async def process_batch(self, records: Sequence[Record], consumer: Any, decoded: dict | None = None) -> None:
        """Insert with retries; commit on success; seek back everything on give-up."""
        try:
            commits = await retrying(
                lambda: self.handler.handle(records, decoded),
                what="metering insert",
                budget_s=self.retry_budget_s,
                stop=lambda: self._stopping,
            )
        except Exception:  # noqa: BLE001 - given up: the batch is read again
            self._seeks += 1
            self.handler.reset({(r.topic, r.partition) for r in records})
            self._seek_back(records, consumer)
            return
        self.batches += 1
        self.records += len(records)
        if consumer is not None and commits:
            try:
                await consumer.commit({TopicPartition(t, p): off for (t, p), off in commits.items()})
            except Exception as exc:  # noqa: BLE001 - redelivery is harmless (ingest log)
                self.commit_failures += 1
                log.warning("offset commit failed (%s); batch will be deduplicated on redelivery", type(exc).__name__)

    @staticmethod
    def _seek_back(records: Sequence[Record], consumer: Any) -> None:
        if consumer is None:
            return
        first: dict[tuple[str, int], int] = {}
        for r in records:
            k = (r.topic, r.partition)
            if k not in first or r.offset < first[k]:
                first[k] = r.offset
        for (t, p), off in first.items():
            try:
                consumer.seek(TopicPartition(t, p), off)
            except Exception:  # noqa: BLE001 - partition revoked meanwhile: new owner re-reads
                log.info("seek back skipped for %s[%d] (not assigned)", t, p)

    # -- in-process bus ------------------------------------------------------------------------
    async def _on_bus_records(self, records: list[Record]) -> None:
        """In-process bus handler: retry until inserted (or shutdown); nothing to commit."""
        await retrying(lambda: self.handler.handle(records), what="metering insert", stop=lambda: self._stopping)


def _records(raw: Iterable[Any]) -> list[Record]:
    return [Record(m.topic, m.partition, m.offset, m.key, m.value or b"", m.timestamp) for m in raw]


EMBEDDED_REFUSAL = (
    "tollgate consume metering needs a ClickHouse server (set TOLLGATE_CLICKHOUSE_URL): the "
    "embedded engine admits one process per data directory and is read only by the process that "
    "owns it, so a separate consumer on it would take partitions and write their events where no "
    "stats query sees them. Run the metering consumer inside `tollgate up`, or point every "
    "process at one ClickHouse server."
)


def refusal(settings: Settings) -> str | None:
    """Why `tollgate consume metering` must not start with these settings (None: it may)."""
    if not settings.kafka_bootstrap:
        return (
            "tollgate consume metering needs TOLLGATE_KAFKA_BOOTSTRAP (without Kafka, `tollgate up` meters in-process)"
        )
    if not settings.clickhouse_url:
        return EMBEDDED_REFUSAL
    return None


async def run_metering(
    settings: Settings,
    *,
    stop_event: asyncio.Event | None = None,
    topic_kinds: dict[str, str] | None = None,
    group_id: str = GROUP_ID,
    database: str | None = None,
    allow_embedded: bool = False,
    **tuning: Any,
) -> None:
    """`tollgate consume metering`: own warehouse + Kafka consumer until SIGINT/SIGTERM.
    Refuses the embedded engine unless ``allow_embedded`` (tests and benchmarks that own a
    private database and read it back themselves)."""
    from warehouse.client import Warehouse

    why = refusal(settings)
    if why and not (allow_embedded and settings.kafka_bootstrap):
        raise SystemExit(why)
    # Batch workload: fewer gen-2 GC passes over long-lived objects (measured ~30% faster).
    gc.set_threshold(50_000, 50, 100)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    wh = Warehouse(settings, database=database)
    await wh.start()
    consumer = MeteringConsumer(settings, wh, topic_kinds=topic_kinds, group_id=group_id, **tuning)
    try:
        await consumer.start()
        gc.freeze()
        log.info("metering consumer running (group %s)", consumer.group_id)
        await stop.wait()
    finally:
        await consumer.stop()
        await wh.stop()
        log.info(
            "metering consumer stopped: %d batches, %d records (avg %.0f per batch)",
            consumer.batches,
            consumer.records,
            consumer.records / max(1, consumer.batches),
        )


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m consumers.kafka_runner [--requests-topic T] [--violations-topic T] [--group G]
    [--database D]`: the metering consumer on other topics (tests, benchmarks); unlike
    `tollgate consume metering` it may run on a private embedded database it owns."""
    import argparse

    ap = argparse.ArgumentParser(prog="consumers.kafka_runner")
    ap.add_argument("--requests-topic", default=topics.REQUESTS)
    ap.add_argument("--violations-topic", default=topics.VIOLATIONS)
    ap.add_argument("--group", default=GROUP_ID)
    ap.add_argument("--database", default=None)
    ap.add_argument("--max-records", type=int, default=None, help="records per batch (getmany)")
    ap.add_argument("--max-fetch-mb", type=int, default=None, help="max_partition_fetch_bytes in MB")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    kinds = {a.requests_topic: "requests", a.violations_topic: "violations"}
    tuning = {
        k: v
        for k, v in (
            ("max_records", a.max_records),
            ("max_partition_fetch_bytes", a.max_fetch_mb and a.max_fetch_mb << 20),
        )
        if v
    }
    asyncio.run(
        run_metering(
            Settings(), topic_kinds=kinds, group_id=a.group, database=a.database, allow_embedded=True, **tuning
        )
    )


if __name__ == "__main__":
    main()
