"""Alembic migrations and first-OWNER bootstrap, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from core.settings import Settings
from store.bootstrap import EmailInUse, create_user, ensure_first_owner
from store.db import make_engine, make_sessionmaker
from store.epoch import bump_epoch, current_epoch
from store.migrate import current_revision, head_revision, upgrade, upgrade_engine
from store.models import Base, ConfigEpoch, Org, User
from store.passwords import verify_password


@pytest.fixture
async def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


async def test_upgrade_creates_every_table_and_epoch_row(engine) -> None:
    assert await current_revision(engine) is None
    await upgrade_engine(engine)
    assert await current_revision(engine) == head_revision() != ""
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    async with make_sessionmaker(engine)() as s:
        rows = (await s.scalars(select(ConfigEpoch))).all()
    assert [(r.id, r.epoch) for r in rows] == [(1, 0)]


async def test_upgrade_is_idempotent_and_keeps_data(engine) -> None:
    await upgrade_engine(engine)
    sm = make_sessionmaker(engine)
    async with sm() as s:
        await bump_epoch(s)
        await s.commit()
    await upgrade_engine(engine)
    async with sm() as s:
        assert await current_epoch(s) == 1
        assert await s.scalar(select(func.count()).select_from(ConfigEpoch)) == 1


async def test_migrations_match_the_models(engine) -> None:
    """No drift: a model change without a new revision fails here."""
    await upgrade_engine(engine)

    def diff(conn):
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_upgrades_do_not_collide(db_url) -> None:
    engines = [make_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_engine(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()


async def test_upgrade_from_settings_creates_the_sqlite_data_dir(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "nested" / "data")
    await upgrade(settings)
    assert (tmp_path / "nested" / "data" / "tollgate.db").exists()


async def test_first_owner_created_once_only(engine) -> None:
    await upgrade_engine(engine)
    sm = make_sessionmaker(engine)
    settings = Settings(admin_email="Boss@Example.test", admin_password="boss-password-9")
    user = await ensure_first_owner(sm, settings)
    assert user is not None and user.org_role == "OWNER" and user.email == "boss@example.test"
    assert await ensure_first_owner(sm, settings) is None
    assert await ensure_first_owner(sm, Settings(admin_email="x@example.test", admin_password="another-pass-1")) is None
    async with sm() as s:
        assert await s.scalar(select(func.count()).select_from(User)) == 1
        assert await s.scalar(select(func.count()).select_from(Org)) == 1
        stored = await s.get(User, user.id)
        assert stored.password_hash != "boss-password-9"
        assert verify_password(stored.password_hash, "boss-password-9")


async def test_no_first_owner_without_settings(engine) -> None:
    await upgrade_engine(engine)
    assert await ensure_first_owner(make_sessionmaker(engine), Settings(admin_email="a@b.test")) is None


async def test_create_user_rejects_used_email(engine) -> None:
    await upgrade_engine(engine)
    async with make_sessionmaker(engine)() as s:
        u = await create_user(s, email="dup@example.test", password="password-123")
        await s.commit()
        with pytest.raises(EmailInUse):
            await create_user(s, email=" DUP@example.test ", password="password-123", org_id=u.org_id)
