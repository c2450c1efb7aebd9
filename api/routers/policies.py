"""Routes for `/policy*` (CRUD, violations, alerts). Thin: parse, call the service, shape.

The fixed paths (`/policy/violations`, `/policy/alerts`) are declared before `/policy/{id}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import CurrentUser, Db
from api.services import policies as service
from schemas.policy_api import PolicyCreate, PolicyUpdate

router = APIRouter(tags=["policy"])


def _warehouse(request: Request) -> Any:
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(runtime, "warehouse", None)


async def _violations(
    request: Request,
    db: Db,
    who: CurrentUser,
    *,
    alerts: bool,
    policy_id: str | None,
    workspace_id: str | None,
    repo_id: str | None,
    start: str | None,
    end: str | None,
    take: int,
    skip: int,
    llm_model: str | None,
    severity: str | None,
    block: bool | None,
) -> dict:
    return await service.list_violations(
        db,
        who,
        _warehouse(request),
        alerts=alerts,
        workspace_id=workspace_id,
        repo_id=repo_id,
        policy_id=policy_id,
        start=start,
        end=end,
        take=take,
        skip=skip,
        llm_model=llm_model,
        severity=severity,
        block=block,
    )


WorkspaceQ = Annotated[str | None, Query(alias="workspaceId")]
RepoQ = Annotated[str | None, Query(alias="repoId")]
PolicyQ = Annotated[str | None, Query(alias="policyId")]
FromQ = Annotated[str | None, Query(alias="from")]
ToQ = Annotated[str | None, Query(alias="to")]
TakeQ = Annotated[int, Query()]
SkipQ = Annotated[int, Query()]
ModelQ = Annotated[str | None, Query(alias="llmModel")]
SeverityQ = Annotated[str | None, Query()]
BlockQ = Annotated[bool | None, Query()]


@router.get("/policy/violations")
async def list_violations(
    request: Request,
    db: Db,
    who: CurrentUser,
    workspace_id: WorkspaceQ = None,
    repo_id: RepoQ = None,
    policy_id: PolicyQ = None,
    start: FromQ = None,
    end: ToQ = None,
    take: TakeQ = 50,
    skip: SkipQ = 0,
    llm_model: ModelQ = None,
    severity: SeverityQ = None,
    block: BlockQ = None,
) -> dict:
    return await _violations(
        request,
        db,
        who,
        alerts=False,
        policy_id=policy_id,
        workspace_id=workspace_id,
        repo_id=repo_id,
        start=start,
        end=end,
        take=take,
        skip=skip,
        llm_model=llm_model,
        severity=severity,
        block=block,
    )


@router.get("/policy/alerts")
async def list_alerts(
    request: Request,
    db: Db,
    who: CurrentUser,
    workspace_id: WorkspaceQ = None,
    repo_id: RepoQ = None,
    policy_id: PolicyQ = None,
    start: FromQ = None,
    end: ToQ = None,
    take: TakeQ = 50,
    skip: SkipQ = 0,
    llm_model: ModelQ = None,
    severity: SeverityQ = None,
    block: BlockQ = None,
) -> dict:
    return await _violations(
        request,
        db,
        who,
        alerts=True,
        policy_id=policy_id,
        workspace_id=workspace_id,
        repo_id=repo_id,
        start=start,
        end=end,
        take=take,
        skip=skip,
        llm_model=llm_model,
        severity=severity,
        block=block,
    )


@router.post("/policy")
async def create_policy(request: Request, body: PolicyCreate, db: Db, who: CurrentUser) -> dict:
    limit = request.app.state.settings.policy_max_patterns_per_scope
    return {"success": True, "policy": await service.create(db, who, body, max_patterns=limit)}


@router.get("/policy")
async def list_policies(
    db: Db,
    who: CurrentUser,
    org_id: Annotated[str | None, Query(alias="orgId")] = None,
    workspace_id: WorkspaceQ = None,
    repo_id: RepoQ = None,
) -> dict:
    return {"success": True, "policies": await service.list_policies(db, who, org_id, workspace_id, repo_id)}


@router.get("/policy/{policy_id}")
async def get_policy(policy_id: str, db: Db, who: CurrentUser) -> dict:
    return {"success": True, "policy": await service.get(db, who, policy_id)}


@router.put("/policy/{policy_id}")
async def update_policy(request: Request, policy_id: str, body: PolicyUpdate, db: Db, who: CurrentUser) -> dict:
    limit = request.app.state.settings.policy_max_patterns_per_scope
    return {"success": True, "policy": await service.update(db, who, policy_id, body, max_patterns=limit)}


@router.delete("/policy/{policy_id}")
async def delete_policy(policy_id: str, db: Db, who: CurrentUser) -> dict:
    await service.delete(db, who, policy_id)
    return {"success": True, "message": "Policy deleted"}


@router.get("/policy/{policy_id}/violations")
async def policy_violations(
    policy_id: str,
    request: Request,
    db: Db,
    who: CurrentUser,
    workspace_id: WorkspaceQ = None,
    repo_id: RepoQ = None,
    start: FromQ = None,
    end: ToQ = None,
    take: TakeQ = 50,
    skip: SkipQ = 0,
    llm_model: ModelQ = None,
    severity: SeverityQ = None,
    block: BlockQ = None,
) -> dict:
    pid = await service.visible_policy_id(db, who, policy_id)
    return await _violations(
        request,
        db,
        who,
        alerts=False,
        policy_id=pid,
        workspace_id=workspace_id,
        repo_id=repo_id,
        start=start,
        end=end,
        take=take,
        skip=skip,
        llm_model=llm_model,
        severity=severity,
        block=block,
    )


@router.get("/policy/{policy_id}/alerts")
async def policy_alerts(
    policy_id: str,
    request: Request,
    db: Db,
    who: CurrentUser,
    workspace_id: WorkspaceQ = None,
    repo_id: RepoQ = None,
    start: FromQ = None,
    end: ToQ = None,
    take: TakeQ = 50,
    skip: SkipQ = 0,
    llm_model: ModelQ = None,
    severity: SeverityQ = None,
    block: BlockQ = None,
) -> dict:
    pid = await service.visible_policy_id(db, who, policy_id)
    return await _violations(
        request,
        db,
        who,
        alerts=True,
        policy_id=pid,
        workspace_id=workspace_id,
        repo_id=repo_id,
        start=start,
        end=end,
        take=take,
        skip=skip,
        llm_model=llm_model,
        severity=severity,
        block=block,
    )
