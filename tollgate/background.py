"""Start a Kafka-backed component in the background: `tollgate up` serves while the broker is
down (or slow to let a restarted member join its group), and the part connects when it can."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

log = logging.getLogger("tollgate.runtime")


class BackgroundStart:
    """Wraps a component: ``start()`` returns at once; a task retries ``inner.start()`` with
    capped backoff (cleaning up with ``inner.stop()`` after each failure) and logs the outage
    once per ``log_every_s``. ``stop()`` cancels the attempts and stops what started."""

    def __init__(
        self,
        inner: Any,
        *,
        attempt_timeout_s: float = 60.0,
        backoff_s: tuple[float, float] = (0.5, 10.0),
        log_every_s: float = 30.0,
    ) -> None:
        self.inner = inner
        self.name = f"{inner.name} (background)"
        self.attempt_timeout_s = attempt_timeout_s
        self.backoff_min, self.backoff_max = backoff_s
        self.log_every_s = log_every_s
        self.started = asyncio.Event()
        self.attempts = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"start-{self.inner.name}")

    async def _run(self) -> None:
        backoff, since, logged = self.backoff_min, time.monotonic(), 0.0
        while True:
            self.attempts += 1
            try:
                await asyncio.wait_for(self.inner.start(), self.attempt_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Kafka down is an expected state
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.inner.stop(), 10)
                now = time.monotonic()
                if now - logged >= self.log_every_s:
                    logged = now
                    log.warning(
                        "%s not started for %.0fs (%s); retrying in the background",
                        self.inner.name,
                        now - since,
                        type(exc).__name__,
                    )
                await asyncio.sleep(backoff)
                backoff = min(self.backoff_max, backoff * 2)
                continue
            if self.attempts > 1:
                log.warning("%s started after %.0fs", self.inner.name, time.monotonic() - since)
            self.started.set()
            return

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.inner.stop()
