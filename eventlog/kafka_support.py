"""Kafka helpers of the shipper: compression choice, quiet aiokafka logging, and reading back
the positions a shipper committed inside its transactions (``committed_positions``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import codec as _codec


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
        "aiokafka.producer.transaction_manager",
        "aiokafka.consumer.fetcher",
        "aiokafka.consumer.group_coordinator",
    ):
        lg = logging.getLogger(name)
        if _QUIET not in lg.filters:
            lg.addFilter(_QUIET)


async def committed_positions(bootstrap: str, group: str, topics: list[str], timeout_s: float) -> dict[str, int]:
    """The offsets ``group`` committed on partition 0 of each topic (topics without one are
    left out). Raises on any error, including a group-level one (aiokafka's
    ``list_consumer_group_offsets`` does not check those: a coordinator still loading would
    read as "nothing committed")."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import for_code
    from aiokafka.protocol.commit import OffsetFetchRequest

    if not topics:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    out: dict[str, int] = {}
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            node = await admin.find_coordinator(group)
            resp = await admin._send_request(OffsetFetchRequest(group, [(t, [0]) for t in topics]), node)
        top = getattr(resp, "error_code", 0)
        if top:
            raise for_code(top)(f"offset fetch for {group}")
        for topic, parts in resp.topics:
            for _partition, offset, _meta, err in parts:
                if err:
                    raise for_code(err)(f"offset fetch for {group} on {topic}")
                if offset >= 0:
                    out[topic] = offset
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(admin.close(), 2)
    return out
