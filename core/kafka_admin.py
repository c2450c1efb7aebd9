"""Kafka topic creation shared by gateways and consumers (they may not import each other)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from schemas import topics

log = logging.getLogger("tollgate.kafka")

_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int = 3) -> None:
    """Create `names` with their `topics.TOPIC_CONFIGS` (compacted decisions, short-retention
    prompts) if missing. Idempotent; awaits the broker."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
        resp = await admin.create_topics(
            [NewTopic(n, partitions, 1, topic_configs=dict(topics.TOPIC_CONFIGS.get(n, {}))) for n in names],
            timeout_ms=15000,
        )
        for err in resp.topic_errors:
            if err[1] not in (0, _TOPIC_ALREADY_EXISTS):
                log.warning("creating topic %s failed with error code %s", err[0], err[1])
    finally:
        await admin.close()
