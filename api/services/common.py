"""Small helpers shared by the config/repository/key services (all block on the DB session)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal, require_workspace
from api.dto import is_uuid
from api.errors import ApiError
from schemas.enums import WorkspaceRole
from store.epoch import bump_epoch, notify_committed


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
    await notify_committed(db)


async def name_taken(db: AsyncSession, model: Any, workspace_id: str, name: str, exclude_id: str | None = None) -> bool:
    """Whether a row of ``model`` (a workspace-scoped table with ``id`` and ``name``) other than
    ``exclude_id`` already uses ``name`` in the workspace. One COUNT query."""
    q = select(func.count()).select_from(model).where(model.workspace_id == workspace_id, model.name == name)
    if exclude_id:
        q = q.where(model.id != exclude_id)
    return bool(await db.scalar(q))


async def load_visible_row(
    db: AsyncSession, who: Principal, model: Any, row_id: str, min_role: WorkspaceRole, not_found: str
) -> Any:
    """The workspace-scoped row ``row_id`` of ``model`` if the caller holds ``min_role`` in its
    workspace; 404 ``not_found`` when the id is malformed, unknown or in a workspace the caller
    cannot see (403 when visible but the role is too low). Blocks on the DB."""
    row = await db.get(model, row_id) if is_uuid(row_id) else None
    if row is None:
        raise ApiError(404, not_found)
    await require_workspace(db, who, row.workspace_id, min_role, not_found=not_found)
    return row
