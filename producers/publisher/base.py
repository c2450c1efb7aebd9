"""The publisher interface the gateway and the policy engine emit events through.

Two implementations: ``KafkaEventPublisher`` (distributed; Kafka with a durable local spool)
and ``InProcessBus`` (embedded; a durable local log delivered to in-process handlers).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas.events import WireModel


@runtime_checkable
class EventPublisher(Protocol):
    """Fire-and-forget event publishing with at-least-once delivery.

    ``emit`` never blocks and never raises: it serializes the event and queues it; a background
    task delivers it. Consumers deduplicate (eventId / offset).
    """

    name: str

    def emit(self, topic: str, key: str | None, event: WireModel) -> None:
        """Queue ``event`` for ``topic`` keyed by ``key`` (e.g. the repository API key id).
        Non-blocking, never raises; failures are counted in metrics and logged."""
        ...

    async def start(self) -> None:
        """Start background delivery. Does not fail when Kafka is down (events spool)."""
        ...

    async def stop(self) -> None:
        """Drain: deliver what is queued, or persist it for the next start. Blocks until done."""
        ...
