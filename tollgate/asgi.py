"""ASGI app factories for servers other than the built-in uvicorn (benchmarks, granian).

    granian --interface asgi --factory tollgate.asgi:gateway

builds `tollgate gateway` from the environment (TOLLGATE_*); the server drives its lifespan.
The config store must be migrated first (`tollgate migrate`).
"""

from __future__ import annotations

from typing import Any


def gateway() -> Any:
    """The `tollgate gateway` ASGI app (settings from the environment; no I/O until lifespan)."""
    from core.settings import Settings
    from tollgate.runtime import build_gateway_app

    return build_gateway_app(Settings())
