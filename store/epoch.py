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
