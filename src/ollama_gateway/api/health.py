"""Service info and probes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ollama_gateway import __version__
from ollama_gateway.api.http import JSONResponse
from ollama_gateway.deps import BackendDep, SettingsDep

router = APIRouter()


@router.get("/")
async def root(settings: SettingsDep, backend: BackendDep) -> Response:
    return JSONResponse(
        {
            "name": "ollama-gateway",
            "version": __version__,
            "default_model": settings.model,
            "backend": backend.name,
        }
    )


@router.head("/")
async def root_head() -> Response:
    return Response(status_code=200)


@router.api_route("/health", methods=["GET", "HEAD"])
async def health() -> Response:
    """Liveness: the process answers. No auth, no backend call."""
    return JSONResponse({"status": "ok"})
