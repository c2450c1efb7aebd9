"""Lazy `lastUsedAt` for repository API keys: marked in memory per request, written in batches.

`mark()` is a dict store (never blocks); a background task flushes every `interval_s` with
one UPDATE per key seen in that interval (no DB work per request).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import RepoApiKey

log = logging.getLogger(__name__)


class LastUsedWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], interval_s: float = 5.0) -> None:
        self._sm = sessionmaker
        self._interval = interval_s
        self._pending: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    def mark(self, key_id: str, ts: float) -> None:
        self._pending[key_id] = ts

    async def flush(self) -> int:
        """Write pending marks; blocks on the DB. Returns how many keys were updated."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        try:
            async with self._sm() as s, s.begin():
                for key_id, ts in batch.items():
                    await s.execute(
                        update(RepoApiKey)
                        .where(RepoApiKey.id == key_id)
                        .values(last_used_at=datetime.fromtimestamp(ts, UTC))
                    )
        except Exception:  # noqa: BLE001 - best effort; retried next interval
            log.warning("lastUsedAt flush failed; will retry", exc_info=True)
            for k, v in batch.items():
                self._pending.setdefault(k, v)
            return 0
        return len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-lastused")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        await self.flush()
