"""Event publishing: Kafka publisher with a durable spool, and the embedded in-process bus.

``wire(rt)`` picks one by settings: Kafka when ``TOLLGATE_KAFKA_BOOTSTRAP`` is set, else the
in-process bus. Either way ``rt.publisher`` is the ``EventPublisher`` to ``emit()`` to; in the
embedded mode ``rt.bus`` is the same object and consumers ``rt.bus.subscribe(...)`` to it.
"""
from __future__ import annotations

from typing import Any

from producers.publisher.base import EventPublisher

__all__ = ["EventPublisher", "build_publisher", "wire"]


def build_publisher(settings: Any, client_id: str = "tollgate") -> EventPublisher:
    """The publisher for these settings (no I/O until ``start``)."""
    if settings.kafka_bootstrap:
        from producers.publisher.kafka import KafkaEventPublisher

        return KafkaEventPublisher(settings.kafka_bootstrap, settings.data_dir / "spool",
                                   spool_max_bytes=settings.spool_max_bytes, client_id=client_id)
    from producers.publisher.inproc import InProcessBus

    return InProcessBus(settings.data_dir, max_bytes=settings.spool_max_bytes)


def wire(rt: Any) -> None:
    """Fill ``rt.publisher`` (and ``rt.bus`` in embedded mode) and register it as a component,
    first, so it starts before and stops after everything that emits or subscribes."""
    if rt.publisher is not None:   # a `prepare` callback (tests) provided one: leave it alone
        return
    pub = build_publisher(rt.settings, client_id=f"tollgate-{rt.role}")
    rt.publisher = pub
    rt.bus = None if rt.settings.kafka_bootstrap else pub
    rt.add(pub)
