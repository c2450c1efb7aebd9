"""`/workspace`: create/list/get/rename/delete workspaces and manage their members.

Any org user may create a workspace (and becomes its ADMIN). Reading needs READ, renaming,
deleting and member changes need ADMIN (org OWNER/ADMINISTRATORS count as ADMIN everywhere
in their org). Deleting a workspace deletes everything in it (configs, repositories, keys,
policies) and bumps the config epoch so gateways drop its keys at once.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, Db, workspace_from_path, workspace_role
from api.errors import ApiError
from api.services.common import commit_change
from schemas.enums import WorkspaceRole
from store.epoch import bump_epoch, notify_committed
from store.models import AiLlm, Policy, Repo, RepoAiLlm, User, Workspace, WorkspaceMember

router = APIRouter(tags=["workspaces"])

_NAME_USED = "A workspace with this name already exists"


class WorkspaceBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class WorkspaceUpdateBody(BaseModel):
    """PUT body: `name`, and (beyond the contract) the policy judge `judgeAiLlmId` + `judgeModel`
    (a configuration of the same workspace; both null clears the judge)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    judgeAiLlmId: str | None = Field(default=None, max_length=64)
    judgeModel: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v.strip() if v is not None else v


class AddMemberBody(BaseModel):
    userId: str = Field(min_length=1, max_length=64)
    role: WorkspaceRole


class RoleBody(BaseModel):
    role: WorkspaceRole


def workspace_dto(ws: Workspace, role: WorkspaceRole | str | None = None) -> dict:
    out = {"id": ws.id, "name": ws.name, "orgId": ws.org_id}
    if role is not None:
        out["role"] = WorkspaceRole(role).value
    return out


async def _name_taken(db: Db, org_id: str, name: str, exclude_id: str | None = None) -> bool:
    q = select(Workspace.id).where(Workspace.org_id == org_id, Workspace.name == name)
    if exclude_id:
        q = q.where(Workspace.id != exclude_id)
    return (await db.scalar(q)) is not None


@router.post("/workspace", status_code=201)
async def create_workspace(body: WorkspaceBody, who: CurrentUser, db: Db) -> dict:
    if await _name_taken(db, who.org_id, body.name):
        raise ApiError(409, _NAME_USED)
    ws = Workspace(org_id=who.org_id, name=body.name)
    db.add(ws)
    await db.flush()
    db.add(WorkspaceMember(workspace_id=ws.id, user_id=who.user_id, role=WorkspaceRole.ADMIN.value))
    await commit_change(db, conflict_message=_NAME_USED)
    return {"success": True, "workspace": workspace_dto(ws)}


@router.get("/workspace")
async def list_workspaces(who: CurrentUser, db: Db) -> dict:
    if who.org_wide:
        rows = (
            await db.scalars(
                select(Workspace).where(Workspace.org_id == who.org_id).order_by(Workspace.created_at, Workspace.id)
            )
        ).all()
        items = [workspace_dto(ws, WorkspaceRole.ADMIN) for ws in rows]
    else:
        pairs = (
            await db.execute(
                select(Workspace, WorkspaceMember.role)
                .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
                .where(WorkspaceMember.user_id == who.user_id, Workspace.org_id == who.org_id)
                .order_by(Workspace.created_at, Workspace.id)
            )
        ).all()
        items = [workspace_dto(ws, role) for ws, role in pairs]
    return {"success": True, "workspaces": items}


@router.get("/workspace/{workspace_id}")
async def get_workspace(who: CurrentUser, db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.READ)) -> dict:
    role = await workspace_role(db, who, ws.id)
    return {"success": True, "workspace": workspace_dto(ws, role)}


@router.put("/workspace/{workspace_id}")
async def rename_workspace(
    body: WorkspaceUpdateBody, db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.ADMIN)
) -> dict:
    sent = body.model_fields_set
    if not sent & {"name", "judgeAiLlmId", "judgeModel"}:
        raise ApiError(400, "Give a name, or judgeAiLlmId and judgeModel")
    if "name" in sent:
        if body.name is None:
            raise ApiError(400, "name: must not be null")
        if await _name_taken(db, ws.org_id, body.name, exclude_id=ws.id):
            raise ApiError(409, _NAME_USED)
        ws.name = body.name
    if sent & {"judgeAiLlmId", "judgeModel"}:
        if (body.judgeAiLlmId is None) != (body.judgeModel is None):
            raise ApiError(400, "judgeAiLlmId and judgeModel must be given together (or both null)")
        if body.judgeAiLlmId is not None:
            cfg = await db.get(AiLlm, body.judgeAiLlmId)
            if cfg is None or cfg.workspace_id != ws.id:
                raise ApiError(400, "judgeAiLlmId: no such AI LLM configuration in this workspace")
        ws.judge_ai_llm_id, ws.judge_model = body.judgeAiLlmId, body.judgeModel
    await commit_change(db, conflict_message=_NAME_USED)
    dto = workspace_dto(ws, WorkspaceRole.ADMIN)
    if sent & {"judgeAiLlmId", "judgeModel"}:
        dto.update(judgeAiLlmId=ws.judge_ai_llm_id, judgeModel=ws.judge_model)
    return {"success": True, "workspace": dto}


@router.delete("/workspace/{workspace_id}")
async def delete_workspace(db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.ADMIN)) -> dict:
    # Explicit order: repo links reference configs with RESTRICT, so they go first.
    repo_ids = select(Repo.id).where(Repo.workspace_id == ws.id).scalar_subquery()
    llm_ids = select(AiLlm.id).where(AiLlm.workspace_id == ws.id).scalar_subquery()
    await db.execute(delete(RepoAiLlm).where(RepoAiLlm.repo_id.in_(repo_ids)))
    await db.execute(delete(RepoAiLlm).where(RepoAiLlm.ai_llm_id.in_(llm_ids)))
    await db.execute(delete(Policy).where(Policy.workspace_id == ws.id))
    await db.execute(delete(Policy).where(Policy.repo_id.in_(repo_ids)))
    await db.execute(delete(Repo).where(Repo.workspace_id == ws.id))
    await db.execute(delete(AiLlm).where(AiLlm.workspace_id == ws.id))
    await db.execute(delete(WorkspaceMember).where(WorkspaceMember.workspace_id == ws.id))
    await db.execute(delete(Workspace).where(Workspace.id == ws.id))
    await bump_epoch(db)
    await db.commit()
    await notify_committed(db)
    return {"success": True, "message": "Workspace deleted"}


async def _member(db: Db, workspace_id: str, user_id: str) -> WorkspaceMember | None:
    return await db.get(WorkspaceMember, (workspace_id, user_id))


async def _admins_left(db: Db, workspace_id: str, excluding_user: str) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(WorkspaceMember)
            .where(
                WorkspaceMember.workspace_id == workspace_id,
                WorkspaceMember.role == WorkspaceRole.ADMIN.value,
                WorkspaceMember.user_id != excluding_user,
            )
        )
        or 0
    )


@router.post("/workspace/{workspace_id}/users")
async def add_member(body: AddMemberBody, db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.ADMIN)) -> dict:
    user = await db.get(User, body.userId)
    if user is None or user.org_id != ws.org_id:
        raise ApiError(404, "User not found")
    if await _member(db, ws.id, user.id) is not None:
        raise ApiError(409, "The user is already a member of this workspace")
    db.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role=body.role.value))
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise ApiError(409, "The user is already a member of this workspace") from None
    return {"success": True, "message": "User added to the workspace"}


@router.put("/workspace/{workspace_id}/users/{user_id}")
async def change_member_role(
    user_id: str, body: RoleBody, db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.ADMIN)
) -> dict:
    member = await _member(db, ws.id, user_id)
    if member is None:
        raise ApiError(404, "User is not a member of this workspace")
    if (
        member.role == WorkspaceRole.ADMIN.value
        and body.role != WorkspaceRole.ADMIN
        and await _admins_left(db, ws.id, user_id) == 0
    ):
        raise ApiError(403, "The workspace needs at least one ADMIN")
    member.role = body.role.value
    await db.commit()
    return {"success": True, "message": "Role updated"}


@router.delete("/workspace/{workspace_id}/users/{user_id}")
async def remove_member(user_id: str, db: Db, ws: Workspace = workspace_from_path(WorkspaceRole.ADMIN)) -> dict:
    member = await _member(db, ws.id, user_id)
    if member is None:
        raise ApiError(404, "User is not a member of this workspace")
    if member.role == WorkspaceRole.ADMIN.value and await _admins_left(db, ws.id, user_id) == 0:
        raise ApiError(403, "The workspace needs at least one ADMIN")
    await db.delete(member)
    await db.commit()
    return {"success": True, "message": "User removed from the workspace"}
