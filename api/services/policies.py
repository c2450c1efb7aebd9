"""Policy CRUD and violation listing. Blocks on the config store / warehouse.

Scope rules: an org policy (only orgId) needs the org OWNER/ADMINISTRATORS role to change;
a workspace or repository policy needs WRITE in its workspace. Anyone in the org sees org
policies; workspace/repository policies are visible with READ in the workspace. A caller
outside the org, or without access to the workspace, gets 404 (no existence leak).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal, accessible_workspace_ids, require_workspace, workspace_role
from api.dto import is_uuid, iso_utc
from api.errors import ApiError
from api.services.common import commit_change
from policy.rules import RuleError, parse_rule, rule_to_wire
from schemas.enums import WorkspaceRole
from schemas.policy_api import PolicyCreate, PolicyUpdate
from store.models import Policy, Repo, RepoApiKey, utcnow
from warehouse.violations_queries import VIOLATION_FIELDS, ViolationFilter, count_query, page_query

NOT_FOUND = "Policy not found"


def to_dto(p: Policy) -> dict[str, Any]:
    return {
        "id": p.id,
        "orgId": p.org_id,
        "name": p.name,
        "content": p.content or "",
        "riskType": p.risk_type,
        "actionType": p.action_type,
        "workspaceId": p.workspace_id,
        "repoId": p.repo_id,
        "createdAt": iso_utc(p.created_at),
        "lastUpdatedAt": iso_utc(p.last_updated_at),
        "rule": p.rule,
    }


def _checked_rule(raw: dict | None) -> dict | None:
    if raw is None:
        return None
    try:
        return rule_to_wire(parse_rule(raw))
    except RuleError as exc:
        raise ApiError(400, exc.message) from None


def _pattern_count(rule: dict | None) -> int:
    if not rule or rule.get("type") != "CONTENT_PATTERN":
        return 0
    return len(rule.get("patterns") or [])


async def _check_scope_patterns(
    db: AsyncSession,
    org_id: str,
    ws_id: str | None,
    repo_id: str | None,
    rule: dict | None,
    limit: int | None,
    exclude_id: str | None = None,
) -> None:
    """400 when the scope's CONTENT_PATTERN policies would hold more than `limit` patterns."""
    adding = _pattern_count(rule)
    if not adding or limit is None:
        return
    q = select(Policy.rule).where(
        Policy.org_id == org_id,
        Policy.workspace_id.is_(None) if ws_id is None else Policy.workspace_id == ws_id,
        Policy.repo_id.is_(None) if repo_id is None else Policy.repo_id == repo_id,
    )
    if exclude_id is not None:
        q = q.where(Policy.id != exclude_id)
    held = sum(_pattern_count(r) for r in await db.scalars(q))
    if held + adding > limit:
        raise ApiError(
            400,
            f"rule.patterns: this scope's content policies would hold {held + adding} patterns; "
            f"at most {limit} are allowed per scope (TOLLGATE_POLICY_MAX_PATTERNS_PER_SCOPE)",
        )


def _check_id(value: str | None, field: str) -> None:
    if value is not None and not is_uuid(value):
        raise ApiError(400, f"{field}: must be a UUID")


async def _require_scope(
    db: AsyncSession, who: Principal, org_id: str, workspace_id: str | None, min_role: WorkspaceRole
) -> None:
    """Change rights for a scope: org-wide role for org policies, `min_role` in the workspace."""
    if org_id != who.org_id:
        raise ApiError(404, NOT_FOUND)
    if workspace_id is None:
        if not who.org_wide:
            raise ApiError(403, "Organization policies need the OWNER or ADMINISTRATORS org role")
        return
    await require_workspace(db, who, workspace_id, min_role, not_found=NOT_FOUND)


async def _resolve_scope(
    db: AsyncSession, who: Principal, org_id: str, workspace_id: str | None, repo_id: str | None
) -> tuple[str | None, str | None]:
    """(workspaceId, repoId) after checking the repository belongs to the workspace."""
    if org_id != who.org_id:
        raise ApiError(404, "Organization not found")
    if repo_id is None:
        return workspace_id, None
    repo = await db.get(Repo, repo_id)
    if repo is None or repo.org_id != who.org_id or await workspace_role(db, who, repo.workspace_id) is None:
        raise ApiError(404, "Repository not found")
    if workspace_id is not None and repo.workspace_id != workspace_id:
        raise ApiError(400, "repoId: the repository does not belong to workspaceId")
    return repo.workspace_id, repo.id


async def create(
    db: AsyncSession, who: Principal, body: PolicyCreate, max_patterns: int | None = None
) -> dict[str, Any]:
    _check_id(body.org_id, "orgId")
    _check_id(body.workspace_id, "workspaceId")
    _check_id(body.repo_id, "repoId")
    rule = _checked_rule(body.rule)
    content = (body.content or "").strip()
    if not content and rule is None:
        raise ApiError(400, "content: describe the policy, or give a rule")
    ws_id, repo_id = await _resolve_scope(db, who, body.org_id, body.workspace_id, body.repo_id)
    await _require_scope(db, who, body.org_id, ws_id, WorkspaceRole.WRITE)
    await _check_scope_patterns(db, who.org_id, ws_id, repo_id, rule, max_patterns)
    now = utcnow()
    p = Policy(
        org_id=who.org_id,
        workspace_id=ws_id,
        repo_id=repo_id,
        user_id=who.user_id,
        name=body.name.strip(),
        content=content,
        risk_type=body.risk_type.value,
        action_type=int(body.action_type),
        rule=rule,
        created_at=now,
        last_updated_at=now,
    )
    db.add(p)
    await commit_change(db)
    return to_dto(p)


async def _visible(db: AsyncSession, who: Principal, policy_id: str) -> Policy:
    p = await db.get(Policy, policy_id) if is_uuid(policy_id) else None
    if p is None or p.org_id != who.org_id:
        raise ApiError(404, NOT_FOUND)
    if p.workspace_id is not None and await workspace_role(db, who, p.workspace_id) is None:
        raise ApiError(404, NOT_FOUND)
    return p


async def get(db: AsyncSession, who: Principal, policy_id: str) -> dict[str, Any]:
    return to_dto(await _visible(db, who, policy_id))


async def list_policies(
    db: AsyncSession, who: Principal, org_id: str | None, workspace_id: str | None, repo_id: str | None
) -> list[dict[str, Any]]:
    """Visible policies, newest first; workspaceId/repoId filter by exact scope."""
    if org_id is not None and org_id != who.org_id:
        return []
    q = select(Policy).where(Policy.org_id == who.org_id)
    if workspace_id is not None:
        if not is_uuid(workspace_id):
            raise ApiError(400, "workspaceId: must be a UUID")
        await require_workspace(db, who, workspace_id, WorkspaceRole.READ)
        q = q.where(Policy.workspace_id == workspace_id)
    else:
        ws_ids = await accessible_workspace_ids(db, who)
        q = q.where(or_(Policy.workspace_id.is_(None), Policy.workspace_id.in_(ws_ids)))
    if repo_id is not None:
        if not is_uuid(repo_id):
            raise ApiError(400, "repoId: must be a UUID")
        q = q.where(Policy.repo_id == repo_id)
    rows = await db.scalars(q.order_by(Policy.created_at.desc(), Policy.id))
    return [to_dto(p) for p in rows]


async def update(
    db: AsyncSession, who: Principal, policy_id: str, body: PolicyUpdate, max_patterns: int | None = None
) -> dict[str, Any]:
    p = await _visible(db, who, policy_id)
    await _require_scope(db, who, p.org_id, p.workspace_id, WorkspaceRole.WRITE)
    fields = body.model_fields_set
    if "rule" in fields:
        p.rule = _checked_rule(body.rule)
        await _check_scope_patterns(db, p.org_id, p.workspace_id, p.repo_id, p.rule, max_patterns, exclude_id=p.id)
    if body.name is not None:
        p.name = body.name.strip()
    if body.content is not None:
        p.content = body.content.strip()
    if body.risk_type is not None:
        p.risk_type = body.risk_type.value
    if body.action_type is not None:
        p.action_type = int(body.action_type)
    if not (p.content or "").strip() and p.rule is None:
        raise ApiError(400, "content: describe the policy, or give a rule")
    p.last_updated_at = utcnow()
    await commit_change(db)
    return to_dto(p)


async def delete(db: AsyncSession, who: Principal, policy_id: str) -> None:
    p = await _visible(db, who, policy_id)
    await _require_scope(db, who, p.org_id, p.workspace_id, WorkspaceRole.WRITE)
    await db.delete(p)
    await commit_change(db)


# ---------------------------------------------------------------- violations / alerts


def parse_time(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{field}: must be an ISO-8601 time, e.g. 2024-01-15T10:30:00.000Z") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


async def list_violations(
    db: AsyncSession,
    who: Principal,
    warehouse: Any,
    *,
    alerts: bool,
    workspace_id: str | None,
    repo_id: str | None,
    policy_id: str | None,
    start: str | None,
    end: str | None,
    take: int,
    skip: int,
    llm_model: str | None,
    severity: str | None,
    block: bool | None,
) -> dict[str, Any]:
    if not 1 <= take <= 100:
        raise ApiError(400, "take: must be between 1 and 100")
    if skip < 0:
        raise ApiError(400, "skip: must be 0 or more")
    severities = [s.upper() for s in parse_list(severity)]
    bad = [s for s in severities if s not in ("LOW", "MEDIUM", "HIGH")]
    if bad:
        raise ApiError(400, "severity: must be LOW, MEDIUM or HIGH")
    t0, t1 = parse_time(start, "from"), parse_time(end, "to")
    if workspace_id is not None:
        _check_id(workspace_id, "workspaceId")
        await require_workspace(db, who, workspace_id, WorkspaceRole.READ)
        ws_ids = [workspace_id]
    else:
        ws_ids = await accessible_workspace_ids(db, who)
    _check_id(repo_id, "repoId")
    _check_id(policy_id, "policyId")
    if not ws_ids:
        return _page(alerts, [], 0, skip, take)
    if warehouse is None:
        raise ApiError(503, "Analytics store is not available")
    f = ViolationFilter(
        workspace_ids=ws_ids,
        repo_id=repo_id,
        policy_id=policy_id,
        start=t0,
        end=t1,
        llm_models=parse_list(llm_model),
        severities=severities,
        block=block,
        alerts_only=alerts,
        take=take,
        skip=skip,
    )
    # count first, then the page: rows only ever get added, so the page sees at least what the
    # count saw and `total` is lifted to cover the page (never "total 1, empty list")
    total_rows = await warehouse.query(*count_query(f))
    rows = await warehouse.query(*page_query(f))
    total = max(int(total_rows[0][0]) if total_rows else 0, skip + len(rows) if rows else 0)
    items = [dict(zip(VIOLATION_FIELDS, r)) for r in rows]
    repo_names, key_names = await _names(db, items)
    text_field = "message" if alerts else "explanation"
    out = []
    for v in items:
        out.append(
            {
                "id": str(v["event_id"]),
                "policyId": v["policy_id"],
                "policyName": v["policy_name"],
                "timestamp": iso_utc(v["occurred_at"]),
                text_field: v["explanation"],
                "conversationId": v["conversation_id"] or None,
                "repoId": v["repo_id"] or None,
                "repoName": repo_names.get(v["repo_id"]),
                "userId": v["user_id"] or None,
                "repoAiApiKeyId": v["repo_ai_api_key_id"] or None,
                "repoAiApiKeyName": key_names.get(v["repo_ai_api_key_id"]),
                "severity": v["severity"],
                "block": bool(v["block"]),
                "llmType": v["llm_type"] or None,
                "llmModel": v["llm_model"] or None,
                "host": v["gateway_id"] or None,
            }
        )
    return _page(alerts, out, total, skip, take)


def _page(alerts: bool, rows: list[dict], total: int, skip: int, take: int) -> dict:
    """Violations under `violations`; alerts under `alerts` (the Flashback client's
    GetPolicyAlertsResponse) and, for older callers, the same list under `violations` too."""
    page = {"success": True, "violations": rows, "total": total, "skip": skip, "take": take}
    if alerts:
        page["alerts"] = rows
    return page


async def _names(db: AsyncSession, items: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    repo_ids = {v["repo_id"] for v in items if v["repo_id"]}
    key_ids = {v["repo_ai_api_key_id"] for v in items if v["repo_ai_api_key_id"]}
    repos = dict((await db.execute(select(Repo.id, Repo.name).where(Repo.id.in_(repo_ids)))).all()) if repo_ids else {}
    keys = (
        dict((await db.execute(select(RepoApiKey.id, RepoApiKey.name).where(RepoApiKey.id.in_(key_ids)))).all())
        if key_ids
        else {}
    )
    return repos, keys


async def visible_policy_id(db: AsyncSession, who: Principal, policy_id: str) -> str:
    return (await _visible(db, who, policy_id)).id
