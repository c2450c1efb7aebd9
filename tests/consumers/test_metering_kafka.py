"""Real broker + embedded ClickHouse: totals are exact after normal runs, DLQ, and SIGKILLs."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from consumers.kafka_runner import MeteringConsumer
from schemas.events import DeadLetter, RequestEvent
from tests.warehouse.support import ch_settings, warehouse  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]
REPO = Path(__file__).resolve().parents[2]


def event(ws: str, llm: str, i: int) -> bytes:
    return RequestEvent(
        gateway_id="gw",
        request_id=str(i),
        org_id="o",
        workspace_id=ws,
        repo_id="r",
        repo_ai_api_key_id=f"k{i % 5}",
        ai_llm_id=llm,
        model="m",
        tokens_in=i % 11,
        tokens_out=2,
    ).to_wire()


async def publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await prod.start()
    try:
        for i, v in enumerate(values):
            await prod.send(topic, v, key=f"k{i % 5}".encode())
        await prod.flush()
    finally:
        await prod.stop()


async def wait_totals(wh, ws, llm, want_calls: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        t = (await wh.llm_stats([ws], [llm], None, None)).get(llm, {"api_calls": 0})
        if t["api_calls"] >= want_calls or time.monotonic() > deadline:
            return t
        await asyncio.sleep(0.3)


async def group_caught_up(bootstrap: str, group: str, topic: str, records: int, timeout_s: float) -> None:
    """Until the group's committed offsets on `topic` add up to `records` (its end)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    committed = -1
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:  # the group (or its coordinator) is not there yet
                offsets = {}
            committed = sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)
            if committed >= records:
                return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise AssertionError(f"group {group} committed {committed} of {records} records in {timeout_s} s")


async def test_publish_consume_exact_totals_and_dlq(kafka_bootstrap, kafka_topic, warehouse):  # noqa: F811
    req_topic, dlq_topic = await kafka_topic(3), await kafka_topic(1)
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    values = [event(ws, llm, i) for i in range(2000)]
    values.insert(777, b'{"this is": "not an event"}')
    await publish(kafka_bootstrap, req_topic, values)
    settings = ch_settings().model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    comp = MeteringConsumer(
        settings,
        warehouse,
        topic_kinds={req_topic: "requests"},
        dlq_topic=dlq_topic,
        group_id=f"g-{uuid.uuid4().hex[:6]}",
    )
    await comp.start()
    try:
        t = await wait_totals(warehouse, ws, llm, 2000)
        await asyncio.sleep(1.0)  # anything extra would show up now
        t = (await warehouse.llm_stats([ws], [llm], None, None))[llm]
    finally:
        await comp.stop()
    assert t["api_calls"] == 2000 and t["tokens_in"] == sum(i % 11 for i in range(2000))
    dlq = AIOKafkaConsumer(dlq_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    try:
        got = await dlq.getmany(timeout_ms=10_000)
    finally:
        await dlq.stop()
    letters = [DeadLetter.from_wire(m.value) for ms in got.values() for m in ms]
    assert len(letters) == 1 and letters[0].topic == req_topic and "invalid event" in letters[0].reason


async def test_consumer_sigkilled_repeatedly_counts_exactly_once(kafka_bootstrap, kafka_topic, tmp_path):
    req_topic = await kafka_topic(3)
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    n = 6000
    producer = asyncio.create_task(publish(kafka_bootstrap, req_topic, [event(ws, llm, i) for i in range(n)]))
    db, group = f"k_{uuid.uuid4().hex[:10]}", f"g-{uuid.uuid4().hex[:6]}"
    env = dict(
        os.environ,
        TOLLGATE_DATA_DIR=str(tmp_path),
        TOLLGATE_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
    )
    env.pop("TOLLGATE_CLICKHOUSE_URL", None)
    cmd = [
        sys.executable,
        "-m",
        "consumers.kafka_runner",
        "--requests-topic",
        req_topic,
        "--violations-topic",
        f"{req_topic}.none",
        "--group",
        group,
        "--database",
        db,
    ]
    rng = random.Random(11)
    for kill in range(4):
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(rng.uniform(3.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    await producer
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await group_caught_up(kafka_bootstrap, group, req_topic, n, timeout_s=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # read back in a child process: this process may already hold another embedded engine
    probe = (
        "import asyncio, json, sys\n"
        "from core.settings import Settings\nfrom warehouse.client import Warehouse\n"
        "async def m():\n"
        f"    wh = Warehouse(Settings(data_dir={str(tmp_path)!r}, clickhouse_url=None), database={db!r})\n"
        "    await wh.start()\n"
        f"    t = (await wh.llm_stats([{ws!r}], [{llm!r}], None, None))[{llm!r}]\n"
        "    raw = await wh.query('SELECT count(), uniqExact(event_id) FROM requests')\n"
        "    await wh.stop()\n"
        "    print(json.dumps([t['api_calls'], t['tokens_in'], raw[0][0], raw[0][1]]))\n"
        "asyncio.run(m())\n"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    calls, tokens, raw_rows, uniq = json.loads(out)
    assert raw_rows == uniq == n
    assert calls == n and tokens == sum(i % 11 for i in range(n))
