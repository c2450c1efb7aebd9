"""Policy consumer transport: Kafka (aiokafka, manual commits) or the in-process bus.

Two independent loops, one job each:

* **limits** (`tollgate.requests.v1`, group `tollgate-policy`): records -> `PolicyHandler.handle`
  (TOKEN_BUDGET / COST_BUDGET / RATE_LIMIT windows) -> publish violations (key: policy id) and decisions
  (compacted topic, key: subject) -> wait for the broker's acks -> commit the batch's offsets.
  An empty poll every 200 ms still calls the handler so window rollovers are published
  (unblock decisions) within about a second of the window end.
* **judge** (`tollgate.prompts.v1`, group `tollgate-policy-judge`): prompt events -> the injected
  `prompt_judge` (LLM judge for log/alert natural-language policies) -> violations -> commit.

Restart / rebalance without double counting (design): window state is rebuilt from the log.
When request partitions are assigned, the consumer forgets all window state, looks up the
group's committed offset C of each partition and seeks to the first offset whose timestamp is
at or after the start of the longest active window (minus `replay_slack_s`). Records before C
are replayed **silently**: they rebuild the counters (deduplicated by eventId) but their
outputs were already published before C was committed, so nothing is published again.
Records from C on are processed normally. Hence counts are exact after a restart and every
violation is published once (at-least-once only for a crash between publish and commit).
This needs the requests topic's retention to cover the longest window in use (a MONTH budget
needs about a month); a policy created mid-window counts from the records replayed at the next
restart or from its creation onward. With several policy consumers in the group, KEY limits
are exact (the requests topic is keyed by API key); REPO/WORKSPACE limits spanning partitions
owned by different members are counted per member (run one policy consumer, or one per
partition set, for those).

Embedded mode: the same handlers subscribe to the in-process bus; a tick task publishes
rollovers. Window state there is not rebuilt after a process restart (the bus keeps no
history past its cursors); blocks already published stay in force until their window ends.

`run_policy(settings, ...)` blocks until SIGINT/SIGTERM (`tollgate consume policy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.policy import PolicyHandler, PolicyOutput
from core.kafka_admin import ensure_topics
from core.retry import retrying
from policy.rules import LIMIT_RULES, limit_span, window_bounds
from schemas import topics
from schemas.events import DeadLetter, PromptEvent, WireModel
from schemas.records import Record

log = logging.getLogger("tollgate.policy.consumer")

GROUP_ID = "tollgate-policy"
JUDGE_GROUP_ID = "tollgate-policy-judge"

PromptJudge = Callable[[PromptEvent, Any, Sequence[Any]], Awaitable[list[WireModel]]]


def replay_start(policies: Sequence[Any], now: datetime, slack_s: float) -> datetime:
    """Start of the longest current window among limit policies (pure). `now` if none."""
    starts = [window_bounds(limit_span(p.rule), now)[0] for p in policies if isinstance(p.rule, LIMIT_RULES)]
    return (min(starts) if starts else now) - timedelta(seconds=slack_s)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PolicyConsumer:
    """Component for `tollgate up` and `tollgate consume policy` (see module docstring).

    `snapshot_getter()` returns the current config snapshot (kept fresh by the caller);
    `compile_policies(snapshot)` gives its compiled policies; `prompt_judge` judges prompt
    events (None: prompts are not consumed here).
    """

    name = "policy-consumer"

    def __init__(
        self,
        settings: Any,
        *,
        snapshot_getter: Callable[[], Any],
        compile_policies: Callable[[Any], list[Any]],
        prompt_judge: PromptJudge | None = None,
        bus: Any = None,
        group_id: str = GROUP_ID,
        judge_group_id: str = JUDGE_GROUP_ID,
        requests_topic: str = topics.REQUESTS,
        prompts_topic: str = topics.PROMPTS,
        violations_topic: str = topics.VIOLATIONS,
        decisions_topic: str = topics.DECISIONS,
        dlq_topic: str = topics.DLQ,
        replay_slack_s: float = 300.0,
        tick_s: float = 0.2,
        judge_concurrency: int = 8,
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.settings = settings
        self.snapshot_getter = snapshot_getter
        self.compile_policies = compile_policies
        self.prompt_judge = prompt_judge
        self.bus = bus
        self.group_id, self.judge_group_id = group_id, judge_group_id
        self.requests_topic, self.prompts_topic = requests_topic, prompts_topic
        self.out_topics = {topics.VIOLATIONS: violations_topic, topics.DECISIONS: decisions_topic}
        self.dlq_topic = dlq_topic
        self.replay_slack_s = replay_slack_s
        self.tick_s = tick_s
        self.clock = clock
        self.kafka = bool(settings.kafka_bootstrap)
        self.handler = PolicyHandler()
        self._policies: list[Any] = []
        self._snap_policies: Any = None
        self._sem = asyncio.Semaphore(judge_concurrency)
        self._tasks: list[asyncio.Task] = []
        self._consumers: list[Any] = []
        self._producer: Any = None
        self._silent_until: dict[tuple[str, int], int] = {}
        self._rebuild_pending = False
        self.published = 0
        self.replayed = 0

    # -- policies --------------------------------------------------------------------------
    def refresh_policies(self) -> None:
        """Recompile when the snapshot's policy tuple changed (cheap identity check)."""
        snap = self.snapshot_getter()
        entries = getattr(snap, "policies", ())
        if entries is not self._snap_policies:
            self._policies = self.compile_policies(snap)
            self.handler.set_policies(self._policies)
            self._snap_policies = entries

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.refresh_policies()
        if self.kafka:
            await self._start_kafka()
        else:
            if self.bus is None:
                raise RuntimeError("no Kafka bootstrap and no in-process bus given")
            self.bus.subscribe(self.requests_topic, self._on_bus_requests, name="policy-limits")
            if self.prompt_judge is not None:
                self.bus.subscribe(self.prompts_topic, self._on_bus_prompts, name="policy-judge")
            self._tasks.append(asyncio.create_task(self._bus_ticks(), name="policy-ticks"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()
        for c in self._consumers:
            with contextlib.suppress(Exception):
                await c.stop()
        self._consumers.clear()
        if self._producer is not None:
            p, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await p.stop()

    # -- outputs ---------------------------------------------------------------------------
    def _messages(self, out: PolicyOutput) -> list[tuple[str, str | None, bytes]]:
        msgs = [(self.out_topics.get(t, t), k, ev.to_wire()) for t, k, ev in out.messages]
        msgs += [(self.dlq_topic, d.topic, d.to_wire()) for d in out.dead]
        return msgs

    async def _publish(self, msgs: list[tuple[str, str | None, bytes]]) -> None:
        """Kafka: send all, then wait for every ack (raises if one failed). Bus: emit."""
        if not msgs:
            return
        if self.kafka:
            futs = [await self._producer.send(t, v, key=k.encode() if k is not None else None) for t, k, v in msgs]
            await asyncio.gather(*futs)
        else:
            from schemas.events import Decision, ViolationEvent

            kinds = {
                self.out_topics[topics.VIOLATIONS]: ViolationEvent,
                self.out_topics[topics.DECISIONS]: Decision,
                self.dlq_topic: DeadLetter,
            }
            for t, k, v in msgs:
                self.bus.emit(t, k, kinds[t].from_wire(v))
        self.published += len(msgs)

    # -- Kafka -----------------------------------------------------------------------------
    async def _start_kafka(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        boot = self.settings.kafka_bootstrap
        await ensure_topics(boot, [self.out_topics[topics.DECISIONS], self.prompts_topic])
        self._producer = AIOKafkaProducer(bootstrap_servers=boot, acks="all", linger_ms=5, client_id="tollgate-policy")
        await self._producer.start()
        lim = AIOKafkaConsumer(
            bootstrap_servers=boot,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=100,
            client_id="tollgate-policy",
        )
        lim.subscribe([self.requests_topic], listener=_Rebuild(self, lim))
        await lim.start()
        self._consumers.append(lim)
        self._tasks.append(asyncio.create_task(self._kafka_limits(lim), name="policy-limits"))
        if self.prompt_judge is not None:
            jc = AIOKafkaConsumer(
                self.prompts_topic,
                bootstrap_servers=boot,
                group_id=self.judge_group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                fetch_max_wait_ms=100,
                client_id="tollgate-policy-judge",
            )
            await jc.start()
            self._consumers.append(jc)
            self._tasks.append(asyncio.create_task(self._kafka_judge(jc), name="policy-judge"))

    async def rebuild(self, consumer: Any, assigned: Sequence[Any]) -> None:
        """Forget window state; seek assigned request partitions back to the longest window start.
        Records before the committed offset will be replayed silently (see module docstring)."""
        self.refresh_policies()
        self.handler = PolicyHandler(self._policies)
        self._silent_until.clear()
        tps = [tp for tp in assigned if tp.topic == self.requests_topic]
        if not tps:
            return
        start = replay_start(self._policies, self.clock(), self.replay_slack_s)
        found = await consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in tps})
        for tp in tps:
            committed = await consumer.committed(tp)
            ot = found.get(tp)
            if ot is None:  # nothing at or after the window start
                if committed is not None:
                    consumer.seek(tp, committed)
                else:
                    await consumer.seek_to_end(tp)
                continue
            target = ot.offset if committed is None else min(ot.offset, committed)
            consumer.seek(tp, target)
            if committed is not None and target < committed:
                self._silent_until[(tp.topic, tp.partition)] = committed
        log.info("policy windows rebuilt from %s for %d partition(s)", start.isoformat(), len(tps))

    async def _kafka_limits(self, consumer: Any) -> None:
        from aiokafka import TopicPartition

        while True:
            batch = await _poll(consumer, "policy", timeout_ms=int(self.tick_s * 1000), max_records=5000)
            if batch is None:
                continue
            self.refresh_policies()
            silent: list[Record] = []
            live: list[Record] = []
            commits: dict[Any, int] = {}
            for tp, msgs in batch.items():
                limit = self._silent_until.get((tp.topic, tp.partition), -1)
                for m in msgs:
                    r = Record(tp.topic, tp.partition, m.offset, m.key, m.value or b"", m.timestamp)
                    (silent if m.offset < limit else live).append(r)
                if msgs:
                    commits[TopicPartition(tp.topic, tp.partition)] = msgs[-1].offset + 1
            if silent:
                self.handler.handle(silent, self.clock())  # rebuild only: outputs already published
                self.replayed += len(silent)
            out = self.handler.handle(live, self.clock())
            msgs_out = self._messages(out)
            if not await self._publish_retrying(msgs_out, consumer, batch):
                continue
            live_commits = {
                tp: off for tp, off in commits.items() if off > self._silent_until.get((tp.topic, tp.partition), -1)
            }
            if live_commits:
                with contextlib.suppress(Exception):
                    await consumer.commit(live_commits)

    async def _publish_retrying(self, msgs: list, consumer: Any, batch: dict) -> bool:
        """Publish with backoff (bounded); on give-up seek the batch back (nothing committed)."""
        try:
            await retrying(lambda: self._publish(msgs), what="publishing policy outputs", budget_s=60)
            return True
        except Exception:  # noqa: BLE001 - given up: the batch is read again
            for tp, ms in batch.items():
                if ms:
                    with contextlib.suppress(Exception):
                        consumer.seek(tp, ms[0].offset)
            return False

    async def _kafka_judge(self, consumer: Any) -> None:
        from aiokafka import TopicPartition

        while True:
            batch = await _poll(consumer, "prompts", timeout_ms=500, max_records=200)
            if batch is None:
                continue
            records = [
                Record(tp.topic, tp.partition, m.offset, m.key, m.value or b"", m.timestamp)
                for tp, msgs in batch.items()
                for m in msgs
            ]
            if not records:
                continue
            msgs_out = await self.judge_records(records)
            if not await self._publish_retrying(msgs_out, consumer, batch):
                continue
            with contextlib.suppress(Exception):
                await consumer.commit(
                    {TopicPartition(tp.topic, tp.partition): ms[-1].offset + 1 for tp, ms in batch.items() if ms}
                )

    # -- judging (both transports) ------------------------------------------------------------
    async def judge_records(self, records: Sequence[Record]) -> list[tuple[str, str | None, bytes]]:
        """Prompt records -> violation messages (bad records -> dead letters). Awaits the judge."""
        self.refresh_policies()
        snap = self.snapshot_getter()
        out = PolicyOutput()

        async def one(rec: Record) -> None:
            try:
                ev = PromptEvent.from_wire(rec.value)
            except ValueError as exc:
                out.dead.append(
                    DeadLetter(
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        reason=f"invalid prompt event: {type(exc).__name__}",
                        payload="",
                    )
                )  # prompt text is not copied to the DLQ
                return
            async with self._sem:
                try:
                    vs = await self.prompt_judge(ev, snap, self._policies)
                except Exception as exc:  # noqa: BLE001 - judging is best effort
                    log.warning("judging prompt event %s failed (%s)", ev.event_id, type(exc).__name__)
                    return
            out.messages.extend((topics.VIOLATIONS, v.policy_id, v) for v in vs)

        await asyncio.gather(*(one(r) for r in records))
        return self._messages(out)

    # -- in-process bus ----------------------------------------------------------------------
    async def _on_bus_requests(self, records: list[Record]) -> None:
        self.refresh_policies()
        await self._publish(self._messages(self.handler.handle(records, self.clock())))

    async def _on_bus_prompts(self, records: list[Record]) -> None:
        await self._publish(await self.judge_records(records))

    async def _bus_ticks(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.refresh_policies()
                await self._publish(self._messages(self.handler.handle([], self.clock())))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("policy tick failed")


def _listener_base() -> type:
    from aiokafka import ConsumerRebalanceListener

    return ConsumerRebalanceListener


class _Rebuild(_listener_base()):  # type: ignore[misc]
    """aiokafka rebalance listener: rebuild window state on every assignment."""

    def __init__(self, pc: PolicyConsumer, consumer: Any):
        self.pc, self.consumer = pc, consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.pc.rebuild(self.consumer, list(assigned))


async def _poll(consumer: Any, what: str, **getmany: Any) -> dict | None:
    """One ``consumer.getmany(**getmany)`` (awaits up to its timeout); on failure a warning, a
    0.5 s pause and None, so the caller's loop polls again."""
    try:
        return await consumer.getmany(**getmany)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001
        log.warning("%s poll failed (%s); retrying", what, type(exc).__name__)
        await asyncio.sleep(0.5)
        return None


async def run_policy(
    settings: Any,
    *,
    stop_event: asyncio.Event | None = None,
    make_consumer: Callable[[Any], Awaitable[tuple[PolicyConsumer, list[Any]]]],
) -> None:
    """`tollgate consume policy`: run until SIGINT/SIGTERM. `make_consumer(settings)` (from the
    composition root) returns the consumer and the components it needs started first."""
    if not settings.kafka_bootstrap:
        raise SystemExit(
            "tollgate consume policy needs TOLLGATE_KAFKA_BOOTSTRAP "
            "(without Kafka, `tollgate up` runs the policy consumer in-process)"
        )
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    consumer, deps = await make_consumer(settings)
    started: list[Any] = []
    try:
        for d in deps:
            await d.start()
            started.append(d)
        await consumer.start()
        started.append(consumer)
        log.info("policy consumer running (group %s)", consumer.group_id)
        await stop.wait()
    finally:
        for d in reversed(started):
            with contextlib.suppress(Exception):
                await d.stop()
