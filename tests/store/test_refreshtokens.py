"""`store.refreshtokens` on SQLite and PostgreSQL: single use, reuse revokes the family, a
password change revokes the user's tokens, expired rows are pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store import refreshtokens as rt
from store.bootstrap import create_user
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade_engine
from store.models import RefreshToken, utcnow


@pytest.fixture
async def sm(db_url):
    engine = make_engine(db_url)
    await upgrade_engine(engine)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _user(sm) -> str:
    async with sm() as s:
        u = await create_user(s, email="rt@example.test", password="password-123")
        await s.commit()
        return u.id


async def test_rotation_reuse_and_user_revocation(sm) -> None:
    uid = await _user(sm)
    later = utcnow() + timedelta(hours=1)
    async with sm() as s:
        fam = await rt.record(s, user_id=uid, jti="a", expires_at=later)
        other = await rt.record(s, user_id=uid, jti="z", expires_at=later)
        await s.commit()
        got = await rt.rotate(s, "a")
        assert (got.user_id, got.family_id, got.reused) == (uid, fam, False)
        await rt.record(s, user_id=uid, jti="b", expires_at=later, family_id=fam)
        await s.commit()
        assert (await rt.rotate(s, "a")).reused  # replay: family revoked
        assert (await rt.rotate(s, "b")).user_id is None
        assert (await rt.rotate(s, "unknown")) == rt.Rotated(None, None)
        assert await rt.revoke_user(s, uid) == 1  # only `z` was still live
        await s.commit()
        assert (await rt.rotate(s, "z")).user_id is None
        assert other != fam


async def test_expired_rows_are_pruned_and_never_rotate(sm) -> None:
    uid = await _user(sm)
    async with sm() as s:
        await rt.record(s, user_id=uid, jti="old", expires_at=utcnow() - timedelta(days=2))
        await rt.record(s, user_id=uid, jti="fresh", expires_at=utcnow() + timedelta(hours=1))
        await s.commit()
        assert (await rt.rotate(s, "old")) == rt.Rotated(None, None)
        assert await rt.prune(s) == 1
        await s.commit()
        assert await s.scalar(select(func.count()).select_from(RefreshToken)) == 1
