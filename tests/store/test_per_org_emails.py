"""Per-org email uniqueness in the store (SQLite and PostgreSQL): the 0005 revision keeps every
row that points at a user (no cascade while SQLite rebuilds the table), duplicates stay refused
within an org, and the accounts of one email are bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from store.bootstrap import MAX_ACCOUNTS_PER_EMAIL, EmailInUse, create_user
from store.db import make_engine, make_sessionmaker
from store.migrate import alembic_config, upgrade_engine
from store.models import ApiToken, Org, RefreshToken, User, Workspace, WorkspaceMember, utcnow


@pytest.fixture
async def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


def _upgrade_to(revision: str):
    def run(conn) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    return run


async def test_0005_keeps_users_and_the_rows_pointing_at_them(engine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_to("0004"))
    sm = make_sessionmaker(engine)
    async with sm() as s:
        s.add(Org(id="o1", name="one"))
        s.add(Org(id="o2", name="two"))
        await s.flush()
        s.add(User(id="u1", org_id="o1", email="a@example.test", password_hash="x"))
        s.add(Workspace(id="w1", org_id="o1", name="w"))
        await s.flush()
        s.add(WorkspaceMember(workspace_id="w1", user_id="u1", role="READ"))
        s.add(ApiToken(user_id="u1", name="t", token_hash="h" * 64))
        s.add(RefreshToken(token_hash="r" * 64, user_id="u1", family_id="f", expires_at=utcnow() + timedelta(days=1)))
        await s.commit()
    await upgrade_engine(engine)
    async with sm() as s:
        for model in (User, WorkspaceMember, ApiToken, RefreshToken):
            assert await s.scalar(select(func.count()).select_from(model)) == 1, model.__name__
        s.add(User(id="u2", org_id="o2", email="a@example.test", password_hash="y"))
        await s.commit()
        s.add(User(id="u3", org_id="o1", email="a@example.test", password_hash="z"))
        with pytest.raises(IntegrityError):
            await s.commit()
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # foreign keys are back on for the pooled connection
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1


async def test_create_user_is_unique_per_org_and_bounded(engine) -> None:
    await upgrade_engine(engine)
    async with make_sessionmaker(engine)() as s:
        first = await create_user(s, email="Dup@example.test", password="password-123")
        await s.commit()
        with pytest.raises(EmailInUse):
            await create_user(s, email="dup@example.test", password="password-123", org_id=first.org_id)
        for _ in range(MAX_ACCOUNTS_PER_EMAIL - 1):
            await create_user(s, email="dup@example.test", password="password-123")  # each in a new org
        await s.commit()
        with pytest.raises(EmailInUse):
            await create_user(s, email="dup@example.test", password="password-123")
