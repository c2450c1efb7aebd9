"""Process endpoints without auth: `/health` (200 once started) and `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from core import metrics

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    rt = request.app.state.runtime
    if not rt.ready:
        return JSONResponse({"success": False, "status": "starting", "message": "Not ready"}, status_code=503)
    return JSONResponse({"success": True, "status": "ok", "role": rt.role})


@router.get("/metrics")
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
