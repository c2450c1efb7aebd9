"""The config epoch: bumped in the same transaction as any change gateways must see."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import ConfigEpoch, utcnow


async def bump_epoch(session: AsyncSession) -> None:
    """Call inside the transaction that changes keys, repos, configs, workspaces or policies."""
    res = await session.execute(
        update(ConfigEpoch).where(ConfigEpoch.id == 1).values(epoch=ConfigEpoch.epoch + 1, changed_at=utcnow())
    )
    if res.rowcount == 0:
        session.add(ConfigEpoch(id=1, epoch=1))


async def current_epoch(session: AsyncSession) -> int:
    return int(await session.scalar(select(ConfigEpoch.epoch).where(ConfigEpoch.id == 1)) or 0)


async def notify_committed(session: AsyncSession) -> None:
    """After committing a change gateways must see: let this process's parts act on it before
    the API answers (read-your-writes). The hook is put in `session.info` by the API's session
    dependency; it blocks until the in-process snapshots are reloaded."""
    hook = session.info.get("store_changed")
    if hook is not None:
        await hook()
