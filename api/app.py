"""Management API assembly: one FastAPI app, error handlers, and every router module.

Only assembles; handlers live in `api/routers/<resource>.py`, authorization in `api/deps.py`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routers import ops

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("tollgate.api")


def _routers() -> tuple:
    """Every router, in inclusion order (stats before aillm so `/ai/llm/stats` is never shadowed).

    Imported on demand: `tollgate gateway` needs only `ops`, and importing the rest costs it
    ~40 MB of code plus a 64 MB argon2 peak (`api.routers.users` hashes a dummy password)."""
    from api.routers import aillm, policies, repos, stats, tokens, ui, users, workspaces

    return (
        ops.router,
        tokens.router,
        users.router,
        workspaces.router,
        stats.router,
        aillm.router,
        repos.router,
        policies.router,
        ui.router,
    )


def _new_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Tollgate", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.state.settings = runtime.settings
    app.state.sessionmaker = runtime.sessionmaker
    install_error_handlers(app)
    return app


def create_api_app(runtime: Runtime) -> FastAPI:
    """The management API: every router of `api/routers/`."""
    from api.openapi import install_docs

    app = _new_app(runtime)
    for router in _routers():
        app.include_router(router)
    install_docs(app)
    return app


def create_ops_app(runtime: Runtime) -> FastAPI:
    """Only `/health` and `/metrics`, for processes without the management API."""
    app = _new_app(runtime)
    app.include_router(ops.router)
    return app
