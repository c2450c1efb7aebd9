"""Bring the config store schema to the newest Alembic revision (used by `tollgate up`/`migrate`).

Alembic is configured in code with the script location inside this package, so it works from
an installed package and any working directory. Concurrent starters are serialized: on
PostgreSQL with a transaction-scoped advisory lock; on SQLite with an flock on a lock file
beside the database (SQLite runs DDL outside transactions, so its own locks do not help).
After the upgrade the single `config_epoch` row (id 1) exists.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from store.db import make_engine
from store.models import ConfigEpoch, utcnow

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x746F6C6C  # "toll": advisory lock id for schema upgrades on PostgreSQL


def alembic_config() -> Config:
    """An Alembic Config pointing at this package's migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def _upgrade_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
    if connection.execute(select(ConfigEpoch.id).where(ConfigEpoch.id == 1)).first() is None:
        connection.execute(ConfigEpoch.__table__.insert().values(id=1, epoch=0, changed_at=utcnow()))


def _current_sync(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    fd = os.open(f"{db}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


async def upgrade_engine(engine: AsyncEngine) -> None:
    """Upgrade the schema behind `engine` to head in one transaction. Blocks on DDL I/O
    and, while another process migrates the same store, on its lock.

    On SQLite foreign keys are off while it runs: a table rebuild (batch mode) drops the old
    table, which would otherwise cascade into every table pointing at it. The PRAGMA is a no-op
    inside a transaction, so it is set before the transaction begins."""
    sqlite = engine.dialect.name == "sqlite"
    async with _sqlite_file_lock(engine), engine.connect() as conn:
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(_upgrade_sync)
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)


async def upgrade(settings: Settings) -> None:
    """Upgrade the configured store to head (creates the SQLite file's directory if needed)."""
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        await upgrade_engine(engine)
    finally:
        await engine.dispose()
