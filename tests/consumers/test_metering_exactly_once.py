"""Exactly-once effect of the metering handler on the embedded engine (no broker needed):
redelivery, batches re-formed after a restart, failures between intent and insert."""

from __future__ import annotations

import random
import uuid

import pytest

from consumers.kafka_runner import MeteringConsumer
from consumers.metering import MeteringHandler
from schemas import topics
from schemas.events import RequestEvent, ViolationEvent
from schemas.records import Record
from tests.warehouse.support import FlakyWarehouse, ch_settings, warehouse  # noqa: F401

pytestmark = pytest.mark.clickhouse


def make_stream(ws: str, llm: str, n: int, partitions: int = 3, bad_every: int = 0) -> list[Record]:
    out, next_off = [], [0] * partitions
    for i in range(n):
        p = i % partitions
        if bad_every and i % bad_every == bad_every - 1:
            value = b'{"eventId": 1}'
        else:
            value = RequestEvent(
                gateway_id="gw",
                request_id=str(i),
                org_id="o",
                workspace_id=ws,
                repo_id="r",
                repo_ai_api_key_id="k",
                ai_llm_id=llm,
                model="m",
                tokens_in=i % 7 + 1,
                tokens_out=3,
            ).to_wire()
        out.append(Record(topics.REQUESTS, p, next_off[p], None, value, 0))
        next_off[p] += 1
    return out


def expected(records: list[Record]) -> tuple[int, int]:
    calls = tokens = 0
    for r in records:
        if r.value.startswith(b'{"eventId": 1}'):
            continue
        calls += 1
        tokens += RequestEvent.from_wire(r.value).tokens_in
    return calls, tokens


async def totals(wh, ws, llm) -> tuple[int, int]:
    t = (await wh.llm_stats([ws], [llm], None, None)).get(llm, {})
    raw = await wh.query("SELECT count(), sum(tokens_in) FROM requests WHERE workspace_id = {w:String}", {"w": ws})
    assert (raw[0][0], raw[0][1]) == (t.get("api_calls", 0), t.get("tokens_in", 0)), "raw and rollup disagree"
    return t.get("api_calls", 0), t.get("tokens_in", 0)


def chunks(seq, rng: random.Random):
    i = 0
    while i < len(seq):
        k = rng.randint(1, 60)
        yield seq[i : i + k]
        i += k


async def test_exact_redelivery_is_deduplicated(warehouse):  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    stream = make_stream(ws, llm, 300)
    h = MeteringHandler(warehouse)
    for batch in (stream[:100], stream[100:200], stream[100:200], stream[200:], stream[:100]):
        await h.handle(batch)
    # a restarted consumer that gets the same batches again
    h2 = MeteringHandler(warehouse)
    for batch in (stream[:100], stream[100:200], stream[200:]):
        await h2.handle(batch)
    assert await totals(warehouse, ws, llm) == expected(stream) == (300, sum(i % 7 + 1 for i in range(300)))


async def test_reformed_batches_after_restarts_never_double_count(warehouse):  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    stream = make_stream(ws, llm, 600, bad_every=50)
    rng = random.Random(7)
    committed = {p: 0 for p in range(3)}
    for _restart in range(6):
        h = MeteringHandler(warehouse)  # fresh process: state comes from the ingest log
        pending = [r for r in stream if r.offset >= committed[r.partition]]
        stop_after = rng.randint(1, 8)
        for n, batch in enumerate(chunks(pending, rng)):
            commits = await h.handle(batch)
            if rng.random() < 0.6:  # the commit sometimes "gets lost" (crash before it)
                for (_t, p), off in commits.items():
                    committed[p] = max(committed[p], off)
            if n >= stop_after:
                break
    h = MeteringHandler(warehouse)
    await h.handle([r for r in stream if r.offset >= committed[r.partition]])
    assert await totals(warehouse, ws, llm) == expected(stream)


async def test_failure_after_intent_then_differently_shaped_redelivery(warehouse):  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    stream = make_stream(ws, llm, 90, partitions=1)
    flaky = FlakyWarehouse(warehouse)
    h = MeteringHandler(flaky)
    await h.handle(stream[:30])
    flaky.fail_inserts = 1
    with pytest.raises(ConnectionError):
        await h.handle(stream[30:60])  # intent [30, 59] logged, insert failed
    # restart: Kafka redelivers from the committed offset 30, in other shapes
    h2 = MeteringHandler(warehouse)
    assert await h2.handle(stream[30:45]) == {(topics.REQUESTS, 0): 30}  # slice incomplete: hold
    assert await h2.handle(stream[45:75]) == {(topics.REQUESTS, 0): 75}
    await h2.handle(stream[75:])
    assert await totals(warehouse, ws, llm) == expected(stream)
    log = await warehouse.load_intents(topics.REQUESTS, 0)
    assert log is not None and log[1] == 89


async def test_flaky_clickhouse_is_retried_with_backoff_and_nothing_lost(warehouse):  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    stream = make_stream(ws, llm, 200)
    flaky = FlakyWarehouse(warehouse, fail_inserts=4)
    comp = MeteringConsumer(ch_settings(), flaky, bus=object(), retry_budget_s=30)
    comp.handler = MeteringHandler(flaky)
    for i in range(0, 200, 50):
        await comp.process_batch(stream[i : i + 50], consumer=None)
    assert flaky.failures == 4 and comp.batches == 4
    assert await totals(warehouse, ws, llm) == expected(stream)


async def test_violations_feed_the_rollups(warehouse):  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    recs = []
    for i, (sev, action) in enumerate([("LOW", 0), ("MEDIUM", 1), ("HIGH", 2), ("HIGH", 1)]):
        v = ViolationEvent(
            policy_id="p",
            policy_name="P",
            org_id="o",
            workspace_id=ws,
            ai_llm_id=llm,
            severity=sev,
            action_type=action,
            block=action == 2,
            llm_tokens_in=10,
            llm_tokens_out=1,
            llm_model="m",
            gateway_id="gw",
        )
        recs.append(Record(topics.VIOLATIONS, 0, i, None, v.to_wire(), 0))
    await MeteringHandler(warehouse).handle(recs)
    t = (await warehouse.llm_stats([ws], None, None, None))[llm]
    assert (t["policy_violations"], t["num_alerts"], t["num_blocks"]) == (4, 2, 1)
    assert (t["llm_tokens_in"], t["llm_tokens_out"], t["api_calls"]) == (40, 4, 0)
