"""Routes for `/ai/llm*` (except `GET /ai/llm/stats`, in `api.routers.stats`). Thin: parse, call
the service, shape the answer. Static paths are declared before `{ai_llm_id}` ones, and only
PUT/DELETE/POST use the id, so `GET /ai/llm/stats` and `/ai/llm/available` are never swallowed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import CurrentUser, Db
from api.dto import AiLlmCreate, AiLlmUpdate
from api.services import aillm as service
from core.settings import Settings

router = APIRouter(tags=["ai-llm"])


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@router.post("/ai/llm")
async def create_ai_llm(body: AiLlmCreate, request: Request, db: Db, who: CurrentUser) -> dict:
    ai_llm_id = await service.create(db, who, _settings(request), body)
    return {"success": True, "aiLlmId": ai_llm_id, "message": "AI LLM configuration created"}


@router.get("/ai/llm")
async def list_ai_llms(
    db: Db, who: CurrentUser, workspace_id: Annotated[str | None, Query(alias="workspaceId")] = None
) -> dict:
    return {"success": True, "aiLlms": await service.list_configs(db, who, workspace_id)}


@router.get("/ai/llm/available")
async def available_ai_llms(
    db: Db, who: CurrentUser, workspace_id: Annotated[str | None, Query(alias="workspaceId")] = None
) -> dict:
    return {"success": True, "aiLlms": await service.list_configs(db, who, workspace_id, only_valid=True)}


@router.put("/ai/llm/{ai_llm_id}")
async def update_ai_llm(ai_llm_id: str, body: AiLlmUpdate, request: Request, db: Db, who: CurrentUser) -> dict:
    await service.update_config(db, who, _settings(request), ai_llm_id, body)
    return {"success": True, "aiLlmId": ai_llm_id, "message": "AI LLM configuration updated"}


@router.delete("/ai/llm/{ai_llm_id}")
async def delete_ai_llm(ai_llm_id: str, db: Db, who: CurrentUser) -> dict:
    await service.delete_config(db, who, ai_llm_id)
    return {"success": True, "message": "AI LLM configuration deleted"}


@router.post("/ai/llm/{ai_llm_id}/validate")
async def validate_ai_llm(ai_llm_id: str, request: Request, db: Db, who: CurrentUser) -> dict:
    result = await service.validate_config(db, who, _settings(request), ai_llm_id)
    return {"success": result.ok, "message": result.message}
