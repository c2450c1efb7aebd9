"""The local broker (scripts/kafka.sh + tests/support/kafka.py) is a real, usable Kafka."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from schemas import topics

pytestmark = pytest.mark.kafka


async def _read_all(bootstrap: str, topic: str, n: int, timeout_s: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    out: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < n and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                out.extend(msgs)
    finally:
        await consumer.stop()
    return out


async def test_contract_topics_exist(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = set(await admin.list_topics())
    finally:
        await admin.close()
    assert set(topics.ALL) <= names
    assert kafka_bootstrap.startswith("127.0.0.1:")


async def test_produce_consume_round_trip(kafka_bootstrap: str, kafka_topic) -> None:
    topic = await kafka_topic(partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(20):
            await producer.send(topic, key=f"k{i % 3}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    msgs = await _read_all(kafka_bootstrap, topic, 20)
    assert sorted(m.value for m in msgs) == sorted(f"v{i}".encode() for i in range(20))
    assert {m.partition for m in msgs} <= {0, 1}


async def test_private_broker_restarts_on_same_port_with_data(private_kafka) -> None:
    bootstrap = private_kafka.bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.REQUESTS, key=b"k", value=b"before-outage")
    finally:
        await producer.stop()

    await private_kafka.astop()
    assert not private_kafka.running
    probe = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    with pytest.raises(KafkaConnectionError):
        await probe.start()
    await probe.stop()

    assert await private_kafka.astart() == bootstrap
    msgs = await _read_all(bootstrap, topics.REQUESTS, 1)
    assert [m.value for m in msgs] == [b"before-outage"]
