"""The one retry policy (core/retry.py): retries until success, gives up when told or when the
budget is spent (raising the last error), and never retries cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.retry import retrying


async def test_retries_until_success() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("down")
        return "ok"

    assert await retrying(flaky, what="probe", wait_initial_s=0.001, wait_max_s=0.005) == "ok"
    assert calls == 4


async def test_stop_raises_the_last_error_at_once() -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"down {calls}")

    with pytest.raises(ConnectionError, match="down 3"):
        await retrying(failing, what="probe", stop=lambda: calls >= 3, wait_initial_s=0.001)
    assert calls == 3


async def test_budget_bounds_the_retries() -> None:
    async def failing() -> None:
        raise TimeoutError("slow")

    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        await retrying(failing, what="probe", budget_s=0.2, wait_initial_s=0.01, wait_max_s=0.05)
    assert time.monotonic() - t0 < 2.0


async def test_cancellation_is_not_retried() -> None:
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retrying(cancelled, what="probe", wait_initial_s=0.001)
    assert calls == 1
