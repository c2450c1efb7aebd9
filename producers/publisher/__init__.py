"""Event publishing: every process appends events to its durable local log (``eventlog``).

``wire(rt)`` fills ``rt.publisher`` with an ``eventlog.EventLogBus``: with
``TOLLGATE_KAFKA_BOOTSTRAP`` set, a shipper forwards the log to Kafka; without it, the log is
the embedded bus and ``rt.bus`` is the same object (consumers ``rt.bus.subscribe(...)``).
Either way ``rt.publisher.emit(topic, key, event)`` is the one interface.
"""

from __future__ import annotations

from typing import Any

from eventlog.bus import EventLogBus
from producers.publisher.base import EventPublisher

__all__ = ["EventPublisher", "build_publisher", "wire"]


def build_publisher(settings: Any, client_id: str = "tollgate") -> EventLogBus:
    """The publisher for these settings (no I/O until ``start``)."""
    return EventLogBus(
        getattr(settings, "eventlog_dir", None) or settings.data_dir,
        max_bytes=settings.spool_max_bytes,
        kafka_bootstrap=settings.kafka_bootstrap or None,
        client_id=client_id,
    )


def wire(rt: Any) -> None:
    """Fill ``rt.publisher`` (and ``rt.bus`` in embedded mode) and register it as a component,
    first, so it starts before and stops after everything that emits or subscribes."""
    if rt.publisher is not None:  # a `prepare` callback (tests) provided one: leave it alone
        return
    pub = build_publisher(rt.settings, client_id=f"tollgate-{rt.role}")
    rt.publisher = pub
    rt.bus = None if rt.settings.kafka_bootstrap else pub
    rt.add(pub)
