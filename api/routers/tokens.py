"""`/user/token`: management API tokens (create: shown once; list without secrets; revoke)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import CurrentUser, Db
from api.dto import iso_utc
from api.errors import ApiError
from store import apitokens
from store.models import utcnow

router = APIRouter(tags=["tokens"])


class CreateTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    expiresAt: datetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    @field_validator("expiresAt")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return v


@router.post("/user/token", status_code=201)
async def create_token(body: CreateTokenBody, who: CurrentUser, db: Db) -> dict:
    """Create a token for the caller; its secret is in this answer only."""
    if body.expiresAt is not None and body.expiresAt <= utcnow():
        raise ApiError(400, "expiresAt must be in the future")
    row, secret = await apitokens.create(db, who.user_id, body.name, body.expiresAt)
    await db.commit()
    return {"success": True, "id": row.id, "token": secret}


@router.get("/user/token")
async def list_tokens(who: CurrentUser, db: Db) -> dict:
    rows = await apitokens.list_live(db, who.user_id)
    return {
        "success": True,
        "tokens": [
            {
                "id": r.id,
                "name": r.name,
                "createdAt": iso_utc(r.created_at),
                "lastUsedAt": iso_utc(r.last_used_at),
                "expiresAt": iso_utc(r.expires_at),
            }
            for r in rows
        ],
    }


@router.delete("/user/token/{token_id}")
async def revoke_token(token_id: str, who: CurrentUser, db: Db) -> dict:
    """Revoke one of the caller's tokens; it is refused from the next request on."""
    if not await apitokens.revoke(db, who.user_id, token_id):
        raise ApiError(404, "Token not found")
    return {"success": True, "message": "Token revoked"}
