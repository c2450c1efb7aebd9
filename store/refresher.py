"""Keeps a process's config snapshot fresh: polls the config epoch, reloads when it moves.

One cheap SELECT every `poll_s` (default 0.05 s) per process, so a deleted key, a disabled
repository or a changed config takes effect within about one poll plus one load on every
process. Requests read `refresher.snapshot` (an immutable object swapped atomically).
`catch_up()` gives read-your-writes: the API calls it after a commit in the same process, and
the gateway calls it when a presented key is unknown (a key created a moment ago works at
once). Polls are single-flight and at most one per `min_interval_s`, so unknown keys sent in a
flood cost at most that many cheap SELECTs per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.epoch import current_epoch
from store.snapshot import Snapshot, load_snapshot

log = logging.getLogger(__name__)


class SnapshotRefresher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        seal_key: bytes,
        poll_s: float = 0.05,
        on_change: Callable[[Snapshot], None] | None = None,
        min_interval_s: float = 0.01,
    ) -> None:
        self._sm = sessionmaker
        self._seal_key = seal_key
        self._poll_s = poll_s
        self._on_change = on_change
        self.snapshot: Snapshot = Snapshot.empty()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._min_interval_s = min_interval_s
        self._last_poll_start = float("-inf")

    async def reload(self) -> Snapshot:
        """Load a fresh snapshot now (blocks on the DB) and swap it in."""
        async with self._sm() as s:
            snap = await load_snapshot(s, self._seal_key)
        self.snapshot = snap
        if self._on_change is not None:
            try:
                self._on_change(snap)
            except Exception:  # noqa: BLE001
                log.exception("snapshot change hook failed")
        return snap

    async def poll_once(self) -> bool:
        """Reload if the epoch moved; True when it did (blocks on the DB; single-flight)."""
        async with self._lock:
            self._last_poll_start = time.monotonic()
            return await self._poll_unlocked()

    async def catch_up(self) -> bool:
        """Make the snapshot reflect every change committed before this call; True if it moved.

        Waits for a poll that starts after the call (sharing one with concurrent callers), never
        polling more often than `min_interval_s`. Blocks on the DB; a DB error leaves the
        snapshot as it is and answers False."""
        called = time.monotonic()
        before = self.snapshot.epoch
        try:
            async with self._lock:
                if self._last_poll_start < called:
                    wait = self._last_poll_start + self._min_interval_s - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self._last_poll_start = time.monotonic()
                    await self._poll_unlocked()
        except Exception:  # noqa: BLE001 - serve the last good snapshot
            log.warning("snapshot catch-up failed; serving the previous snapshot", exc_info=True)
        return self.snapshot.epoch != before

    async def _poll_unlocked(self) -> bool:
        async with self._sm() as s:
            epoch = await current_epoch(s)
        if epoch != self.snapshot.epoch:
            await self.reload()
            return True
        return False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep serving the last good snapshot
                log.warning("snapshot poll failed; serving the previous snapshot", exc_info=True)

    async def start(self) -> None:
        await self.reload()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-snapshot")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
