"""`/ui`: the dashboard, static files shipped in the package (`api/ui/`), no build step.

Every answer carries a strict Content-Security-Policy: scripts, styles and API calls only from
this origin, nothing inline, no frames. The page talks to the management API with the bearer
token it got from `POST /user/login`; this router serves files only and needs no auth.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def asset_path(path: str) -> tuple[str, ...] | None:
    """Pure: the parts of a safe relative asset path, or None (dot segments, hidden files,
    backslashes or an unknown type are refused, so nothing outside `api/ui/` is reachable)."""
    if not path or "\\" in path or "\x00" in path:
        return None
    parts = PurePosixPath(path).parts
    if not parts or any(p in ("", ".", "..", "/") or p.startswith(".") for p in parts):
        return None
    if PurePosixPath(parts[-1]).suffix not in TYPES:
        return None
    return parts


@lru_cache(maxsize=128)
def _read(parts: tuple[str, ...]) -> bytes | None:
    node = resources.files("api") / "ui"
    for p in parts:
        node = node / p
    return node.read_bytes() if node.is_file() else None


def _answer(parts: tuple[str, ...], cache: str) -> Response:
    body = _read(parts)
    if body is None:
        return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    media = TYPES[PurePosixPath(parts[-1]).suffix]
    return Response(body, media_type=media, headers={**SECURITY_HEADERS, "Cache-Control": cache})


@router.get("/ui")
async def ui_index() -> Response:
    return _answer(("index.html",), "no-cache")


@router.get("/ui/")
async def ui_slash() -> Response:
    return RedirectResponse("/ui", status_code=308, headers=SECURITY_HEADERS)


@router.get("/ui/{path:path}")
async def ui_asset(path: str) -> Response:
    parts = asset_path(path)
    if parts is None:
        return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    return _answer(parts, "no-cache")
