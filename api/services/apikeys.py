"""Repository AI API keys: the secret is shown once at creation, stored only as a hash.

Deletion is soft (`deleted_at`), so usage history keeps the key's name; the epoch bump makes
gateways drop the key within one snapshot poll. All functions block on the DB session.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal
from api.dto import ApiKeyCreate, ApiKeyUpdate, is_uuid, iso_utc
from api.errors import ApiError
from api.services import repos as repo_service
from api.services.common import commit_change
from schemas.enums import WorkspaceRole
from store.apikeys import generate, hash_secret
from store.models import RepoApiKey, new_id, utcnow

NOT_FOUND = "API key not found"


def to_dto(k: RepoApiKey) -> dict:
    return {
        "id": k.id,
        "name": k.name,
        "repoId": k.repo_id,
        "key": k.key_prefix,
        "aiType": k.ai_type,
        "createdAt": iso_utc(k.created_at),
        "lastUsedAt": iso_utc(k.last_used_at),
    }


async def create(db: AsyncSession, who: Principal, repo_id: str, body: ApiKeyCreate) -> dict:
    """Returns {id, key, secret}; the only place the secret ever leaves the server."""
    repo = await repo_service.load_visible(db, who, repo_id, WorkspaceRole.WRITE)
    prefix, secret = generate()
    row = RepoApiKey(
        id=new_id(),
        repo_id=repo.id,
        name=body.name,
        ai_type=body.ai_type.value,
        key_prefix=prefix,
        secret_hash=hash_secret(secret),
        created_at=utcnow(),
    )
    db.add(row)
    await commit_change(db, conflict_message="Could not create the key; try again")
    return {"id": row.id, "key": prefix, "secret": secret}


async def list_keys(db: AsyncSession, who: Principal, repo_id: str) -> list[dict]:
    repo = await repo_service.load_visible(db, who, repo_id, WorkspaceRole.READ)
    rows = await db.scalars(
        select(RepoApiKey)
        .where(RepoApiKey.repo_id == repo.id, RepoApiKey.deleted_at.is_(None))
        .order_by(RepoApiKey.created_at.desc(), RepoApiKey.id.desc())
    )
    return [to_dto(k) for k in rows]


async def _live_key(db: AsyncSession, repo_id: str, key_id: str) -> RepoApiKey:
    key = await db.get(RepoApiKey, key_id) if is_uuid(key_id) else None
    if key is None or key.repo_id != repo_id or key.deleted_at is not None:
        raise ApiError(404, NOT_FOUND)
    return key


async def rename(db: AsyncSession, who: Principal, repo_id: str, key_id: str, body: ApiKeyUpdate) -> None:
    repo = await repo_service.load_visible(db, who, repo_id, WorkspaceRole.WRITE)
    key = await _live_key(db, repo.id, key_id)
    key.name = body.name
    await commit_change(db)


async def soft_delete(db: AsyncSession, who: Principal, repo_id: str, key_id: str) -> None:
    repo = await repo_service.load_visible(db, who, repo_id, WorkspaceRole.WRITE)
    key = await _live_key(db, repo.id, key_id)
    key.deleted_at = utcnow()
    await commit_change(db)
