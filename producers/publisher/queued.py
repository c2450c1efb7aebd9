"""The non-blocking front both event publishers share (Kafka publisher, in-process bus).

``emit``/``publish`` append to a bounded in-memory queue and wake the background task that
delivers it; they never block and never raise (a stopped publisher, a full queue or an encoding
error is counted in ``tollgate_publisher_dropped_total`` and logged, rate-limited).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import Any

from schemas.events import WireModel
from core import metrics


@dataclass(slots=True)
class QueuedItem:
    """One encoded event waiting in the queue (or read back from a spool)."""

    topic: str
    key: bytes | None
    value: bytes
    ts: int                  # epoch milliseconds when queued
    seq: int | None = None   # spool sequence when replayed from the spool


class QueuedFront:
    """Mixin: ``emit``/``publish`` onto ``self._queue``; the subclass sets the attributes below
    in ``__init__`` and consumes the queue in its background task."""

    _drop_log: logging.Logger          # the subclass's module logger
    queue_max: int
    _queue: collections.deque[QueuedItem]
    _wakeup: asyncio.Event
    _accepting: bool
    _m_emitted: dict[str, Any]
    _last_drop_log = 0.0

    def emit(self, topic: str, key: str | None, event: WireModel) -> None:
        """Queue an event (non-blocking, never raises)."""
        try:
            if self._refused(topic):
                return
            self._enqueue(topic, key.encode() if key is not None else None, event.to_wire())
        except Exception as exc:  # noqa: BLE001 - emit never raises
            self._drop("encode_error", topic, exc)

    def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Queue already-encoded bytes (e.g. a DeadLetter). Non-blocking, never raises."""
        try:
            if self._refused(topic):
                return
            self._enqueue(topic, key, bytes(value))
        except Exception as exc:  # noqa: BLE001
            self._drop("encode_error", topic, exc)

    def _refused(self, topic: str) -> bool:
        """True (and the drop counted) when stopped or the queue is full."""
        if not self._accepting:
            self._drop("stopped", topic)
            return True
        if len(self._queue) >= self.queue_max:
            self._drop("queue_full", topic)
            return True
        return False

    def _enqueue(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._queue.append(QueuedItem(topic, key, value, int(time.time() * 1000)))
        m = self._m_emitted.get(topic)
        if m is None:
            m = self._m_emitted[topic] = metrics.PUBLISHER_EMITTED.labels(topic)
        m.inc()
        if not self._wakeup.is_set():
            self._wakeup.set()

    def _drop(self, reason: str, topic: str, exc: BaseException | None = None) -> None:
        metrics.PUBLISHER_DROPPED.labels(reason).inc()
        now = time.monotonic()
        if now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            self._drop_log.error(
                "EVENT DROPPED (%s) for topic %s%s; see tollgate_publisher_dropped_total",
                reason, topic, f": {type(exc).__name__}" if exc else "")
