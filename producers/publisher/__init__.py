"""Event publishing: Kafka publisher with a durable spool, and the embedded in-process bus."""
from __future__ import annotations

from producers.publisher.base import EventPublisher

__all__ = ["EventPublisher"]
