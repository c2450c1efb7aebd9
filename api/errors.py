"""The contract's error shape: {"success": false, "message": "..."}; never 422, never a leak."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tollgate.api")


class ApiError(Exception):
    """Raise from handlers/services; becomes {"success": false, "message": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _body(message: str) -> dict:
    return {"success": False, "message": message}


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        typ = err.get("type", "")
        if typ == "json_invalid":
            return "Request body is not valid JSON"
        if typ in ("model_attributes_type", "dict_type") and tuple(err.get("loc", ())) == ("body",):
            return "Request body must be a JSON object (Content-Type: application/json)"
        msg = err.get("msg", "invalid value")
        parts.append(f"{loc or 'body'}: {msg}")
    return "Invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError):
        return JSONResponse(_body(exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        return JSONResponse(_body(_describe_validation(exc)), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        status = 400 if exc.status_code == 422 else exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return JSONResponse(_body(detail), status_code=status, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception):
        # Log the type only: exception text may carry provider payloads.
        log.error("unhandled error: %s", type(exc).__name__)
        return JSONResponse(_body("Internal server error"), status_code=500)
