"""AI LLM configurations: create, list, update, delete, validate (scoped by workspace role).

Secrets are sealed with the settings key, bound to the row id; only a masked hint is kept in
clear. All functions block on the DB session; `validate_config` also makes one provider call
(outside any DB transaction).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal, accessible_workspace_ids, require_workspace
from api.dto import AiLlmCreate, AiLlmUpdate, iso_utc, normalize_endpoint
from api.errors import ApiError
from api.services.common import commit_change, load_visible_row, name_taken
from api.validation import ProviderTarget, ValidationResult, bedrock_endpoint, validate
from core.endpoints import EndpointGuard, EndpointRefused
from core.settings import Settings
from pricing.overrides import parse_overrides
from schemas.enums import AiType, ValidationStatus, WorkspaceRole
from store.epoch import bump_epoch, notify_committed
from store.models import AiLlm, Repo, RepoAiLlm, Workspace, new_id, utcnow
from store.sealing import SealError, mask, seal, unseal

NOT_FOUND = "AI LLM configuration not found"
NAME_USED = "NAME_ALREADY_USED"
_KNOWN_PREFIXES = ("sk-ant-", "sk-proj-", "sk-", "AIza", "AKIA", "ASIA")


def key_hint(value: str | None) -> str | None:
    """The masked display form (`sk-…a1b2`): a well-known public prefix, `…`, last 4 at most."""
    tail = mask(value)
    if tail is None or value is None:
        return None
    prefix = next((p for p in _KNOWN_PREFIXES if value.startswith(p)), "")
    return f"{prefix}…{tail}"


def check_shape(ai_type: AiType, endpoint: str | None, key: str | None, region: str | None) -> str:
    """The normalized endpoint for a complete configuration, or 400 saying what is missing. Pure."""
    if ai_type is AiType.AWS:
        if not region:
            raise ApiError(400, "region is required for aiType AWS (e.g. us-east-1)")
        if not key:
            raise ApiError(400, "key (the AWS access key id) is required for aiType AWS")
        if not endpoint or not endpoint.strip():
            return bedrock_endpoint(region)
    elif not endpoint or not endpoint.strip():
        raise ApiError(400, "endpoint is required")
    try:
        return normalize_endpoint(endpoint)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


async def check_endpoint(settings: Settings, endpoint: str) -> None:
    """400 unless the endpoint's host may be connected to (awaits DNS, bounded)."""
    try:
        await EndpointGuard.from_settings(settings).check_url(endpoint)
    except EndpointRefused as exc:
        raise ApiError(400, str(exc)) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme.lower(), (p.hostname or "").lower().rstrip("."), p.port


def require_secret_for_move(
    old_type: AiType,
    old_endpoint: str,
    old_region: str | None,
    new_type: AiType,
    new_endpoint: str,
    new_region: str | None,
) -> None:
    """400 when an update would send the stored secret somewhere else without restating it:
    another aiType or another endpoint origin (scheme, host, port). Following a region with the
    default Bedrock URL stays with AWS and needs no secret. Pure."""
    if new_type is not old_type:
        raise ApiError(
            400,
            "changing aiType requires the secret in the same request "
            "(the stored secret is never sent to another provider)",
        )
    if _origin(new_endpoint) == _origin(old_endpoint):
        return
    if (
        new_type is AiType.AWS
        and old_endpoint == bedrock_endpoint(old_region)
        and new_endpoint == bedrock_endpoint(new_region)
    ):
        return
    raise ApiError(
        400,
        "changing the endpoint host requires the secret in the same request "
        "(the stored secret is never sent to another host)",
    )


def to_dto(row: AiLlm, repos: list[Repo]) -> dict:
    return {
        "id": row.id,
        "orgId": row.org_id,
        "workspaceId": row.workspace_id,
        "userId": row.user_id,
        "name": row.name,
        "aiType": row.ai_type,
        "endpoint": row.endpoint,
        "key": row.key_hint,
        "createdAt": iso_utc(row.created_at),
        "repos": [{"id": r.id, "name": r.name, "createdAt": iso_utc(r.created_at)} for r in repos],
        "validationStatus": row.validation_status,
        "lastValidatedAt": iso_utc(row.last_validated_at),
        "lastValidationMessage": row.last_validation_message,
        "region": row.region,
        "updatedAt": iso_utc(row.updated_at),
        "prices": row.prices or {},
    }


def _prices(raw: dict | None) -> dict | None:
    """Validated price overrides as stored (None when empty); 400 naming the field."""
    try:
        return parse_overrides(raw) or None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _hint_for(ai_type: AiType, secret: str | None, key: str | None) -> str | None:
    return key_hint(key) if ai_type is AiType.AWS else key_hint(secret)


def _try_unseal(sk: bytes, blob: bytes | None, row_id: str) -> str | None:
    """The plaintext, or None when absent or sealed under another server key."""
    if not blob:
        return None
    try:
        return unseal(sk, blob, aad=row_id)
    except SealError:
        return None


async def load_visible(db: AsyncSession, who: Principal, ai_llm_id: str, min_role: WorkspaceRole) -> AiLlm:
    """The configuration if the caller holds `min_role` in its workspace; 404 if invisible."""
    return await load_visible_row(db, who, AiLlm, ai_llm_id, min_role, NOT_FOUND)


async def create(db: AsyncSession, who: Principal, settings: Settings, body: AiLlmCreate) -> str:
    ws = await require_workspace(db, who, body.workspace_id, WorkspaceRole.WRITE)
    region = body.region or None
    key = body.key or None
    endpoint = check_shape(body.ai_type, body.endpoint, key, region)
    await check_endpoint(settings, endpoint)
    prices = _prices(body.prices)
    if await name_taken(db, AiLlm, ws.id, body.name):
        raise ApiError(409, NAME_USED)
    row_id = new_id()
    now = utcnow()
    sk = settings.secret_key_bytes
    db.add(
        AiLlm(
            id=row_id,
            org_id=ws.org_id,
            workspace_id=ws.id,
            user_id=who.user_id,
            name=body.name,
            ai_type=body.ai_type.value,
            endpoint=endpoint,
            region=region,
            secret_sealed=seal(sk, body.secret, aad=row_id),
            key_sealed=seal(sk, key, aad=row_id) if key else None,
            key_hint=_hint_for(body.ai_type, body.secret, key),
            prices=prices,
            validation_status=ValidationStatus.UNVALIDATED.value,
            created_at=now,
            updated_at=now,
        )
    )
    await commit_change(db, conflict_message=NAME_USED)
    return row_id


async def _repos_by_config(db: AsyncSession, ids: list[str]) -> dict[str, list[Repo]]:
    out: dict[str, list[Repo]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await db.execute(
        select(RepoAiLlm.ai_llm_id, Repo)
        .join(Repo, Repo.id == RepoAiLlm.repo_id)
        .where(RepoAiLlm.ai_llm_id.in_(ids))
        .order_by(Repo.created_at, Repo.id)
    )
    for ai_llm_id, repo in rows.all():
        out[ai_llm_id].append(repo)
    return out


async def list_configs(
    db: AsyncSession, who: Principal, workspace_id: str | None, *, only_valid: bool = False
) -> list[dict]:
    """Configs in the caller's workspaces, newest first. An explicit invisible workspace -> 404."""
    if workspace_id:
        await require_workspace(db, who, workspace_id, WorkspaceRole.READ)
        ws_ids = [workspace_id]
    else:
        ws_ids = await accessible_workspace_ids(db, who)
    if not ws_ids:
        return []
    q = select(AiLlm).where(AiLlm.workspace_id.in_(ws_ids))
    if only_valid:
        q = q.where(AiLlm.validation_status == ValidationStatus.VALID.value)
    rows = list(await db.scalars(q.order_by(AiLlm.created_at.desc(), AiLlm.id.desc())))
    repos = await _repos_by_config(db, [r.id for r in rows])
    return [to_dto(r, repos[r.id]) for r in rows]


async def update_config(db: AsyncSession, who: Principal, settings: Settings, ai_llm_id: str, body: AiLlmUpdate) -> str:
    """Partial update. Any change to what the provider call uses resets validation."""
    row = await load_visible(db, who, ai_llm_id, WorkspaceRole.WRITE)
    given = body.model_fields_set
    sk = settings.secret_key_bytes
    ai_type = body.ai_type if "ai_type" in given and body.ai_type else AiType(row.ai_type)
    region = (body.region or None) if "region" in given else row.region
    key = (body.key or None) if "key" in given else _try_unseal(sk, row.key_sealed, row.id)
    endpoint_in = body.endpoint if "endpoint" in given and body.endpoint is not None else row.endpoint
    if (
        ai_type is AiType.AWS
        and "endpoint" not in given
        and row.region != region
        and row.endpoint == bedrock_endpoint(row.region)
    ):
        endpoint_in = ""  # follow the region with the default Bedrock URL
    endpoint = check_shape(ai_type, endpoint_in, key, region)
    if "secret" not in given or body.secret is None:
        require_secret_for_move(AiType(row.ai_type), row.endpoint, row.region, ai_type, endpoint, region)
    if endpoint != row.endpoint:
        await check_endpoint(settings, endpoint)
    if "prices" in given:
        row.prices = _prices(body.prices)

    if "name" in given and body.name and body.name != row.name:
        if await name_taken(db, AiLlm, row.workspace_id, body.name, exclude_id=row.id):
            raise ApiError(409, NAME_USED)
        row.name = body.name
    provider_changed = (
        ("secret" in given and body.secret is not None)
        or "key" in given
        or ai_type.value != row.ai_type
        or endpoint != row.endpoint
        or region != row.region
    )
    secret_plain: str | None = None
    if "secret" in given and body.secret is not None:
        secret_plain = body.secret
        row.secret_sealed = seal(sk, body.secret, aad=row.id)
    if "key" in given:
        row.key_sealed = seal(sk, key, aad=row.id) if key else None
    if provider_changed:
        if ai_type is AiType.AWS:
            row.key_hint = key_hint(key)
        elif secret_plain is not None:
            row.key_hint = key_hint(secret_plain)
        elif ai_type.value != row.ai_type:
            row.key_hint = key_hint(_try_unseal(sk, row.secret_sealed, row.id))
        row.validation_status = ValidationStatus.UNVALIDATED.value
        row.last_validation_message = None
    row.ai_type = ai_type.value
    row.endpoint = endpoint
    row.region = region
    row.updated_at = utcnow()
    await commit_change(db, conflict_message=NAME_USED)
    return row.id


async def delete_config(db: AsyncSession, who: Principal, ai_llm_id: str) -> None:
    """Delete unless a repository (or a workspace's policy judge) still uses it: 403 then."""
    row = await load_visible(db, who, ai_llm_id, WorkspaceRole.WRITE)
    users = list(
        await db.scalars(
            select(Repo.name)
            .join(RepoAiLlm, RepoAiLlm.repo_id == Repo.id)
            .where(RepoAiLlm.ai_llm_id == row.id)
            .order_by(Repo.name)
        )
    )
    if users:
        raise ApiError(
            403, "The configuration is in use by repositories: " + ", ".join(users[:10]) + "; detach it from them first"
        )
    judge_of = await db.scalar(select(func.count()).select_from(Workspace).where(Workspace.judge_ai_llm_id == row.id))
    if judge_of:
        raise ApiError(403, "The configuration is the policy judge of a workspace; choose another judge first")
    await db.delete(row)
    # A repository attached meanwhile trips the RESTRICT foreign key: same answer as above.
    await commit_change(db, conflict_message="The configuration is in use by a repository", conflict_status=403)


async def validate_config(db: AsyncSession, who: Principal, settings: Settings, ai_llm_id: str) -> ValidationResult:
    """Call the provider (blocks up to the validation timeout) and persist the verdict.

    The DB transaction is closed during the call. The verdict is stored only if the
    configuration did not change meanwhile (compare-and-set on `updated_at`).
    """
    row = await load_visible(db, who, ai_llm_id, WorkspaceRole.WRITE)
    sk = settings.secret_key_bytes
    try:
        target = ProviderTarget(
            ai_type=AiType(row.ai_type),
            endpoint=row.endpoint,
            secret=unseal(sk, row.secret_sealed, aad=row.id) if row.secret_sealed else "",
            key=unseal(sk, row.key_sealed, aad=row.id) if row.key_sealed else None,
            region=row.region,
        )
    except SealError:
        target = None
    seen_updated_at: datetime = row.updated_at
    await db.rollback()  # release the read transaction before the network call

    if target is None:
        result = ValidationResult(
            False, "The stored secret cannot be opened with the current server key; set the secret again."
        )
    else:
        result = await validate(target, settings.validate_timeout_s, guard=EndpointGuard.from_settings(settings))

    res = await db.execute(
        update(AiLlm)
        .where(AiLlm.id == ai_llm_id, AiLlm.updated_at == seen_updated_at)
        .values(
            validation_status=(ValidationStatus.VALID if result.ok else ValidationStatus.INVALID).value,
            last_validated_at=utcnow(),
            last_validation_message=result.message[:1000],
        )
        .execution_options(synchronize_session=False)
    )
    if res.rowcount == 0:
        await db.rollback()
        return ValidationResult(False, "The configuration changed while it was being validated; validate it again.")
    await bump_epoch(db)
    await db.commit()
    await notify_committed(db)
    return result
