"""Routes for `/policy*` (CRUD, violations, alerts). Thin: parse, call the service, shape.

The fixed paths (`/policy/violations`, `/policy/alerts`) are declared before `/policy/{id}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.deps import CurrentUser, Db
from api.services import policies as service
from schemas.policy_api import PolicyCreate, PolicyUpdate

router = APIRouter(tags=["policy"])


def _warehouse(request: Request) -> Any:
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(runtime, "warehouse", None)


@dataclass(frozen=True)
class ViolationQuery:
    """The filters and page of every violations/alerts listing (one declaration for all four)."""

    workspace_id: Annotated[str | None, Query(alias="workspaceId")] = None
    repo_id: Annotated[str | None, Query(alias="repoId")] = None
    start: Annotated[str | None, Query(alias="from")] = None
    end: Annotated[str | None, Query(alias="to")] = None
    take: Annotated[int, Query()] = 50
    skip: Annotated[int, Query()] = 0
    llm_model: Annotated[str | None, Query(alias="llmModel")] = None
    severity: Annotated[str | None, Query()] = None
    block: Annotated[bool | None, Query()] = None


Violations = Annotated[ViolationQuery, Depends()]
PolicyQ = Annotated[str | None, Query(alias="policyId")]
WorkspaceQ = Annotated[str | None, Query(alias="workspaceId")]
RepoQ = Annotated[str | None, Query(alias="repoId")]


async def _violations(
    request: Request, db: Db, who: CurrentUser, q: ViolationQuery, *, alerts: bool, policy_id: str | None
) -> dict:
    return await service.list_violations(
        db,
        who,
        _warehouse(request),
        alerts=alerts,
        workspace_id=q.workspace_id,
        repo_id=q.repo_id,
        policy_id=policy_id,
        start=q.start,
        end=q.end,
        take=q.take,
        skip=q.skip,
        llm_model=q.llm_model,
        severity=q.severity,
        block=q.block,
    )


@router.get("/policy/violations")
async def list_violations(request: Request, db: Db, who: CurrentUser, q: Violations, policy_id: PolicyQ = None) -> dict:
    return await _violations(request, db, who, q, alerts=False, policy_id=policy_id)


@router.get("/policy/alerts")
async def list_alerts(request: Request, db: Db, who: CurrentUser, q: Violations, policy_id: PolicyQ = None) -> dict:
    return await _violations(request, db, who, q, alerts=True, policy_id=policy_id)


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
async def policy_violations(policy_id: str, request: Request, db: Db, who: CurrentUser, q: Violations) -> dict:
    pid = await service.visible_policy_id(db, who, policy_id)
    return await _violations(request, db, who, q, alerts=False, policy_id=pid)


@router.get("/policy/{policy_id}/alerts")
async def policy_alerts(policy_id: str, request: Request, db: Db, who: CurrentUser, q: Violations) -> dict:
    pid = await service.visible_policy_id(db, who, policy_id)
    return await _violations(request, db, who, q, alerts=True, policy_id=pid)
