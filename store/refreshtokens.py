"""Refresh tokens: one row per issued token, keyed by a SHA-256 of its id (jti), never the token.

Why rows at all (the tokens are signed JWTs): a stateless refresh token stays usable for its
whole lifetime whoever holds it. With rows, a token is single-use (`rotate` marks it used with
a conditional UPDATE, so of two racing refreshes only one wins), a used token presented again
means it leaked (the whole family, every token descended from one login, is revoked), and
logout and password changes revoke for real. Expired rows are useless (the JWT is refused
first) and are pruned at login.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import RefreshToken, new_id, utcnow


def jti_hash(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


@dataclass(frozen=True)
class Rotated:
    """The outcome of presenting a refresh token: `user_id`/`family_id` when it was live."""

    user_id: str | None
    family_id: str | None
    reused: bool = False


async def record(
    db: AsyncSession, *, user_id: str, jti: str, expires_at: datetime, family_id: str | None = None
) -> str:
    """Store a newly issued token (flushed, not committed); returns its family id."""
    family = family_id or new_id()
    db.add(RefreshToken(token_hash=jti_hash(jti), user_id=user_id, family_id=family, expires_at=expires_at))
    await db.flush()
    return family


async def rotate(db: AsyncSession, jti: str) -> Rotated:
    """Mark a live token used, atomically (caller commits after recording its successor).

    A token already used or revoked revokes its family (committed here) and is `reused`."""
    h = jti_hash(jti)
    now = utcnow()
    won = await db.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == h,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
    )
    row = (
        await db.execute(
            select(RefreshToken.user_id, RefreshToken.family_id, RefreshToken.used_at, RefreshToken.revoked_at).where(
                RefreshToken.token_hash == h
            )
        )
    ).first()
    if won.rowcount == 1 and row is not None:
        return Rotated(row.user_id, row.family_id)
    if row is None or (row.used_at is None and row.revoked_at is None):  # unknown, or just expired
        await db.rollback()
        return Rotated(None, None)
    await revoke_family(db, row.family_id)
    return Rotated(None, row.family_id, reused=True)


async def revoke_family(db: AsyncSession, family_id: str) -> int:
    """Revoke every live token of a family (committed); the number revoked."""
    r = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await db.commit()
    return int(r.rowcount or 0)


async def revoke_by_jti(db: AsyncSession, jti: str) -> int:
    """Logout: revoke the family of the token with this id (committed); 0 when unknown."""
    family = await db.scalar(select(RefreshToken.family_id).where(RefreshToken.token_hash == jti_hash(jti)))
    if family is None:
        return 0
    return await revoke_family(db, family)


async def revoke_user(db: AsyncSession, user_id: str) -> int:
    """Revoke all of a user's live tokens (password change). Flushed; caller commits."""
    r = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(r.rowcount or 0)


async def prune(db: AsyncSession, grace: timedelta = timedelta(days=1)) -> int:
    """Delete rows expired for longer than `grace` (caller commits)."""
    r = await db.execute(delete(RefreshToken).where(RefreshToken.expires_at < utcnow() - grace))
    return int(r.rowcount or 0)
