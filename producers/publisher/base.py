"""The publisher interface the gateway and the policy engine emit events through.

One implementation, ``eventlog.EventLogBus``: a durable local log, shipped to Kafka in the
distributed mode and read in-process in the embedded mode.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas.events import WireModel


@runtime_checkable
class EventPublisher(Protocol):
    """Durable, non-blocking event publishing with at-least-once delivery downstream."""

    name: str

    def emit(self, topic: str, key: str | None, event: WireModel) -> bool:
        """Append ``event`` for ``topic`` keyed by ``key`` (e.g. the repository API key id) to
        the local log. Never raises, never waits for Kafka; True once stored durably, False
        (counted in metrics, logged) when it could not be stored (log full, closed, disk)."""
        ...

    async def start(self) -> None:
        """Open the log; does not need Kafka."""
        ...

    async def stop(self) -> None:
        """Ship/deliver what it can (bounded); the rest stays in the log for the next start."""
        ...
