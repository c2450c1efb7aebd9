"""One retry policy for the process parts: capped exponential backoff with jitter (stamina).

`retrying(fn, what=..., budget_s=..., stop=...)` awaits `fn()` until it succeeds. Each failure is
logged with its type only (the text may quote data). When `stop()` is true or the time budget is
spent, the last error is raised, so the caller decides what giving up means (seek the batch
back, leave it uncommitted). Cancellation is never retried. Awaits; never blocks the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import stamina

T = TypeVar("T")
log = logging.getLogger("tollgate.retry")


def _never() -> bool:
    return False


async def retrying(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    budget_s: float | None = None,
    stop: Callable[[], bool] = _never,
    wait_initial_s: float = 0.1,
    wait_max_s: float = 5.0,
) -> T:
    """`await fn()`, retried on any Exception with backoff from `wait_initial_s` up to `wait_max_s`."""

    def retry_on(exc: BaseException) -> bool:
        if not isinstance(exc, Exception) or stop():  # cancellation and exits are never retried
            return False
        log.warning("%s failed (%s); retrying", what, type(exc).__name__)
        return True

    async for attempt in stamina.retry_context(
        on=retry_on,
        attempts=None,
        timeout=budget_s,
        wait_initial=wait_initial_s,
        wait_max=wait_max_s,
        wait_jitter=wait_initial_s,
    ):
        with attempt:
            return await fn()
    raise AssertionError("stamina ended without a result or an error")  # pragma: no cover
