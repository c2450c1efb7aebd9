"""The config store as a process component: migrate and create the first OWNER before anything
else starts (both block on the database)."""

from __future__ import annotations

from typing import Any

from core.settings import Settings


class ConfigStore:
    """First component of every process: migrates (idempotent) and creates the first OWNER."""

    name = "config-store"

    def __init__(self, engine: Any, sessionmaker: Any, settings: Settings) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def start(self) -> None:
        from store.bootstrap import ensure_first_owner
        from store.migrate import upgrade_engine

        if self.engine.dialect.name == "sqlite":
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade_engine(self.engine)
        await ensure_first_owner(self.sessionmaker, self.settings)

    async def stop(self) -> None:
        """The engine is disposed by the runtime after every other part has stopped."""
