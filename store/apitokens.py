"""Management API tokens: long-lived bearer tokens of a user, stored only as SHA-256 hashes.

A fast hash is right (as for repository keys): the token carries 256 random bits. The prefix
tells them apart from JWT access tokens without trying to decode them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.apikeys import hash_secret
from store.models import ApiToken, utcnow

PREFIX = "tgm_"
# last_used_at is written at most this often per token (no write on every request).
_TOUCH_EVERY = timedelta(seconds=60)


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def looks_like_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


async def create(db: AsyncSession, user_id: str, name: str, expires_at: datetime | None) -> tuple[ApiToken, str]:
    """A new token row (flushed, not committed) and its secret, which is never stored."""
    secret = generate()
    row = ApiToken(user_id=user_id, name=name, token_hash=hash_secret(secret), expires_at=expires_at)
    db.add(row)
    await db.flush()
    return row, secret


async def resolve(db: AsyncSession, token: str) -> str | None:
    """The user id a live token acts for (not revoked, not expired), else None.

    Touches `last_used_at` (committed) when it is older than a minute."""
    row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        await db.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        await db.commit()
    return row.user_id


async def list_live(db: AsyncSession, user_id: str) -> list[ApiToken]:
    """The user's tokens that are not revoked, newest first (expired ones included, marked by expiresAt)."""
    rows = await db.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc())
    )
    return list(rows)


async def revoke(db: AsyncSession, user_id: str, token_id: str) -> bool:
    """Revoke one of the user's tokens (committed); False when it is not theirs or already revoked."""
    result = await db.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await db.commit()
    return bool(result.rowcount)
