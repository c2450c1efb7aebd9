"""Small helpers shared by the config/repository/key services (all block on the DB session)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ApiError
from store.epoch import bump_epoch


async def commit_change(
    db: AsyncSession, *, conflict_message: str = "NAME_ALREADY_USED", conflict_status: int = 409
) -> None:
    """Bump the config epoch and commit in one transaction; a constraint race -> 409 (or as given).

    Every change gateways must see goes through here, so the epoch never lags the data.
    """
    try:
        await bump_epoch(db)
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise ApiError(conflict_status, conflict_message) from None
