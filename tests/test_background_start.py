"""A Kafka-backed component started in the background: the process serves at once, the part
connects when it can, the wait is logged once per interval, and stop() ends the attempts."""

from __future__ import annotations

import asyncio
import logging
import time

from tollgate.background import BackgroundStart


class Flaky:
    name = "flaky"

    def __init__(self, failures: int, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.starts = 0
        self.stops = 0
        self.running = False

    async def start(self) -> None:
        self.starts += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.starts <= self.failures:
            raise ConnectionError("broker down")
        self.running = True

    async def stop(self) -> None:
        self.stops += 1
        self.running = False


async def test_start_returns_at_once_and_retries_until_it_starts(caplog) -> None:
    inner = Flaky(failures=4)
    bg = BackgroundStart(inner, backoff_s=(0.01, 0.02), log_every_s=60)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tollgate.runtime"):
        await bg.start()
        assert time.monotonic() - t0 < 0.1
        await asyncio.wait_for(bg.started.wait(), 5)
    assert inner.running and inner.starts == 5
    assert inner.stops == 4  # each failed attempt cleaned up
    waiting = [r for r in caplog.records if "retrying in the background" in r.getMessage()]
    assert len(waiting) == 1, "logged once per interval, not per attempt"
    assert any("started after" in r.getMessage() for r in caplog.records)
    await bg.stop()
    assert not inner.running


async def test_stop_cancels_a_start_that_never_finishes() -> None:
    inner = Flaky(failures=0, hang=True)
    bg = BackgroundStart(inner, attempt_timeout_s=60)
    await bg.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(bg.stop(), 2)
    assert not bg.started.is_set() and inner.stops == 1
