"""Request dependencies: DB session, the authenticated principal, and tenancy checks.

Authorization lives here, in one place. A caller without access to a workspace gets 404 for
anything in it (no existence leak); a caller with access but too low a role gets 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ApiError
from api.security import decode_token
from schemas.enums import WorkspaceRole
from store import apitokens
from store.models import User, Workspace, WorkspaceMember

ORG_WIDE_ROLES = {"OWNER", "ADMINISTRATORS"}  # see every workspace of their org, as ADMIN
_RANK = {WorkspaceRole.READ: 1, WorkspaceRole.WRITE: 2, WorkspaceRole.ADMIN: 3}


@dataclass(frozen=True)
class Principal:
    user_id: str
    org_id: str
    org_role: str
    email: str
    name: str

    @property
    def org_wide(self) -> bool:
        return self.org_role in ORG_WIDE_ROLES


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            session.info["store_changed"] = runtime.store_changed
        yield session


Db = Annotated[AsyncSession, Depends(get_db)]


async def get_principal(request: Request, db: Db) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token")
    token = token.strip()
    if apitokens.looks_like_api_token(token):
        user_id = await apitokens.resolve(db, token)
    else:
        user_id = decode_token(request.app.state.settings.jwt_secret_bytes, token, "access")
    if user_id is None:
        raise ApiError(401, "Invalid or expired token")
    user = await db.get(User, user_id)
    if user is None:
        raise ApiError(401, "Invalid or expired token")
    return Principal(user.id, user.org_id, user.org_role, user.email, user.name)


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def workspace_role(db: AsyncSession, who: Principal, workspace_id: str) -> WorkspaceRole | None:
    """The caller's effective role in a workspace, or None when it cannot see it."""
    ws = await db.get(Workspace, workspace_id)
    if ws is None or ws.org_id != who.org_id:
        return None
    if who.org_wide:
        return WorkspaceRole.ADMIN
    role = await db.scalar(
        select(WorkspaceMember.role).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == who.user_id
        )
    )
    return WorkspaceRole(role) if role else None


async def require_workspace(
    db: AsyncSession,
    who: Principal,
    workspace_id: str | None,
    min_role: WorkspaceRole,
    *,
    not_found: str = "Workspace not found",
) -> Workspace:
    """The workspace if the caller has at least `min_role`; 404 if invisible, 403 if too low."""
    if not workspace_id:
        raise ApiError(404, not_found)
    role = await workspace_role(db, who, workspace_id)
    if role is None:
        raise ApiError(404, not_found)
    if _RANK[role] < _RANK[min_role]:
        raise ApiError(403, f"This action needs the {min_role.value} role in the workspace")
    ws = await db.get(Workspace, workspace_id)
    assert ws is not None
    return ws


async def accessible_workspace_ids(db: AsyncSession, who: Principal) -> list[str]:
    """Every workspace the caller can read (the scope of every list and stats query)."""
    if who.org_wide:
        rows = await db.scalars(select(Workspace.id).where(Workspace.org_id == who.org_id))
    else:
        rows = await db.scalars(
            select(WorkspaceMember.workspace_id)
            .join(Workspace, Workspace.id == WorkspaceMember.workspace_id)
            .where(WorkspaceMember.user_id == who.user_id, Workspace.org_id == who.org_id)
        )
    return list(rows)


async def get_org_admin(who: CurrentUser) -> Principal:
    """The caller, if its org role is OWNER or ADMINISTRATORS (user management), else 403."""
    if not who.org_wide:
        raise ApiError(403, "This action needs the OWNER or ADMINISTRATORS org role")
    return who


OrgAdmin = Annotated[Principal, Depends(get_org_admin)]


def workspace_from_path(min_role: WorkspaceRole):
    """Dependency: the `{workspace_id}` path workspace if the caller has `min_role` (404/403)."""

    async def dep(workspace_id: str, db: Db, who: CurrentUser) -> Workspace:
        return await require_workspace(db, who, workspace_id, min_role)

    return Depends(dep)
