"""Routes for `/repo` and `/repo/{repoId}/ai/apikey*`. Thin: parse, call the service, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Db
from api.dto import ApiKeyCreate, ApiKeyUpdate, RepoCreate, RepoUpdate
from api.services import apikeys as key_service
from api.services import repos as repo_service

router = APIRouter(tags=["repo"])


@router.post("/repo")
async def create_repo(body: RepoCreate, db: Db, who: CurrentUser) -> dict:
    return {"success": True, "repoId": await repo_service.create(db, who, body)}


@router.get("/repo")
async def list_repos(
    db: Db,
    who: CurrentUser,
    workspace_id: Annotated[str | None, Query(alias="workspaceId")] = None,
    repo_id: Annotated[str | None, Query(alias="repoId")] = None,
) -> dict:
    return {"success": True, "repos": await repo_service.list_repos(db, who, workspace_id, repo_id)}


@router.put("/repo/{repo_id}")
async def update_repo(repo_id: str, body: RepoUpdate, db: Db, who: CurrentUser) -> dict:
    await repo_service.update(db, who, repo_id, body)
    return {"success": True, "message": "Repository updated"}


@router.delete("/repo/{repo_id}")
async def delete_repo(repo_id: str, db: Db, who: CurrentUser) -> dict:
    await repo_service.delete_repo(db, who, repo_id)
    return {"success": True, "message": "Repository deleted"}


@router.post("/repo/{repo_id}/ai/apikey", status_code=201)
async def create_api_key(repo_id: str, body: ApiKeyCreate, db: Db, who: CurrentUser) -> dict:
    return {"success": True, **await key_service.create(db, who, repo_id, body)}


@router.get("/repo/{repo_id}/ai/apikey")
async def list_api_keys(repo_id: str, db: Db, who: CurrentUser) -> dict:
    return {"success": True, "apiKeys": await key_service.list_keys(db, who, repo_id)}


@router.put("/repo/{repo_id}/ai/apikey/{key_id}")
async def rename_api_key(repo_id: str, key_id: str, body: ApiKeyUpdate, db: Db, who: CurrentUser) -> dict:
    await key_service.rename(db, who, repo_id, key_id, body)
    return {"success": True, "message": "API key updated"}


@router.delete("/repo/{repo_id}/ai/apikey/{key_id}")
async def delete_api_key(repo_id: str, key_id: str, db: Db, who: CurrentUser) -> dict:
    await key_service.soft_delete(db, who, repo_id, key_id)
    return {"success": True, "message": "API key deleted"}
