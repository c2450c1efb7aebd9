"""Repositories: named bundles of configurations (in fallback order) that API keys belong to.

All functions block on the DB session and bump the config epoch on every change, so
gateways pick up new, changed, disabled or deleted repositories within one poll.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal, accessible_workspace_ids, require_workspace
from api.dto import RepoAiLlmRef, RepoCreate, RepoUpdate, iso_utc
from api.errors import ApiError
from api.services.common import commit_change, load_visible_row, name_taken
from schemas.enums import WorkspaceRole
from store.models import AiLlm, Repo, RepoAiLlm, RepoApiKey, new_id, utcnow

NOT_FOUND = "Repository not found"
NAME_USED = "NAME_ALREADY_USED"


async def load_visible(db: AsyncSession, who: Principal, repo_id: str, min_role: WorkspaceRole) -> Repo:
    """The repository if the caller holds `min_role` in its workspace; 404 if invisible."""
    return await load_visible_row(db, who, Repo, repo_id, min_role, NOT_FOUND)


async def _checked_config_ids(db: AsyncSession, workspace_id: str, refs: list[RepoAiLlmRef]) -> list[str]:
    """The ordered config ids, each once and each a config of this workspace, else 400."""
    ids = [r.ai_llm_id for r in refs]
    if len(set(ids)) != len(ids):
        raise ApiError(400, "repoAiLlms lists the same aiLlmId more than once")
    if not ids:
        return ids
    found = set(await db.scalars(select(AiLlm.id).where(AiLlm.id.in_(ids), AiLlm.workspace_id == workspace_id)))
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiError(400, f"aiLlmId {missing[0]} is not an AI LLM configuration of this workspace")
    return ids


async def create(db: AsyncSession, who: Principal, body: RepoCreate) -> str:
    ws = await require_workspace(db, who, body.workspace_id, WorkspaceRole.WRITE)
    ids = await _checked_config_ids(db, ws.id, body.repo_ai_llms)
    if await name_taken(db, Repo, ws.id, body.name):
        raise ApiError(409, NAME_USED)
    now = utcnow()
    repo = Repo(
        id=new_id(),
        org_id=ws.org_id,
        workspace_id=ws.id,
        name=body.name,
        endpoint_type="OPENAI",
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    repo.links = [RepoAiLlm(ai_llm_id=i, position=n) for n, i in enumerate(ids)]
    db.add(repo)
    await commit_change(db, conflict_message=NAME_USED)
    return repo.id


async def list_repos(db: AsyncSession, who: Principal, workspace_id: str | None, repo_id: str | None) -> list[dict]:
    """Repositories in the caller's workspaces, oldest first; explicit invisible filters -> 404."""
    if repo_id:
        repos = [await load_visible(db, who, repo_id, WorkspaceRole.READ)]
        if workspace_id and repos[0].workspace_id != workspace_id:
            repos = []
    else:
        if workspace_id:
            await require_workspace(db, who, workspace_id, WorkspaceRole.READ)
            ws_ids = [workspace_id]
        else:
            ws_ids = await accessible_workspace_ids(db, who)
        if not ws_ids:
            return []
        repos = list(
            await db.scalars(select(Repo).where(Repo.workspace_id.in_(ws_ids)).order_by(Repo.created_at, Repo.id))
        )
    config_ids = {link.ai_llm_id for r in repos for link in r.links}
    configs = {}
    if config_ids:
        configs = {c.id: c for c in await db.scalars(select(AiLlm).where(AiLlm.id.in_(config_ids)))}
    return [to_dto(r, configs) for r in repos]


def to_dto(repo: Repo, configs: dict[str, AiLlm]) -> dict:
    links = sorted(repo.links, key=lambda link: link.position)
    return {
        "id": repo.id,
        "name": repo.name,
        "workspaceId": repo.workspace_id,
        "endpointType": repo.endpoint_type or "OPENAI",
        "aiLlms": [
            {"id": c.id, "name": c.name, "aiType": c.ai_type}
            for c in (configs.get(link.ai_llm_id) for link in links)
            if c is not None
        ],
        "createdAt": iso_utc(repo.created_at),
        "disabled": bool(repo.disabled),
    }


async def update(db: AsyncSession, who: Principal, repo_id: str, body: RepoUpdate) -> None:
    repo = await load_visible(db, who, repo_id, WorkspaceRole.WRITE)
    given = body.model_fields_set
    if "name" in given and body.name and body.name != repo.name:
        if await name_taken(db, Repo, repo.workspace_id, body.name, exclude_id=repo.id):
            raise ApiError(409, NAME_USED)
        repo.name = body.name
    if "repo_ai_llms" in given and body.repo_ai_llms is not None:
        ids = await _checked_config_ids(db, repo.workspace_id, body.repo_ai_llms)
        # Edit in place (keep rows that stay, drop the rest, add new) so no primary key is
        # deleted and re-inserted in one flush.
        keep = {link.ai_llm_id: link for link in repo.links}
        for link in list(repo.links):
            if link.ai_llm_id not in ids:
                repo.links.remove(link)
        for pos, cid in enumerate(ids):
            if cid in keep:
                keep[cid].position = pos
            else:
                repo.links.append(RepoAiLlm(ai_llm_id=cid, position=pos))
    if "disabled" in given and body.disabled is not None:
        repo.disabled = body.disabled
    repo.updated_at = utcnow()
    await commit_change(db, conflict_message=NAME_USED)


async def delete_repo(db: AsyncSession, who: Principal, repo_id: str) -> None:
    """Delete the repository, its config links and its keys (they stop working at once)."""
    repo = await load_visible(db, who, repo_id, WorkspaceRole.WRITE)
    await db.execute(delete(RepoApiKey).where(RepoApiKey.repo_id == repo.id))
    await db.delete(repo)
    await commit_change(db)
