"""Alembic environment for the config store (SQLite and PostgreSQL).

Two ways in:
- from `store.migrate.upgrade()` — the caller passes an open sync connection in
  `config.attributes["connection"]` (obtained via AsyncConnection.run_sync);
- from the `alembic` command line — we build an async engine from Settings ourselves.
`render_as_batch` lets ALTERs work on SQLite (table copy-and-move).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from core.settings import Settings

    return Settings().sqlalchemy_url


async def _run_async() -> None:
    from store.db import make_engine

    engine = make_engine(_url())
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # as in store.migrate: a table rebuild must not cascade
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=_url().startswith("sqlite")
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
