"""Ollama's model endpoints: tags, show, ps, version, pull, delete, copy, embed, embeddings.

Each is a thin router over ``app.state.backend``; replies use Ollama's field names so that the
official clients (``ollama`` for Python, Open WebUI, LangChain) parse them unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ollama_gateway.accounts.policy import enforce_embed, require_model, visible
from ollama_gateway.api.bodies import JSONResponse, parse_body, request_id
from ollama_gateway.api.streaming import (
    ndjson_response,
    start_stream,
    stream_lines,
    until_disconnect,
)
from ollama_gateway.core.types import ModelInfo, RunningModel
from ollama_gateway.errors import UpstreamBadResponse
from ollama_gateway.http.deps import BackendDep, SettingsDep
from ollama_gateway.models.registry_guard import check_pull
from ollama_gateway.schemas.ollama import (
    CopyBody,
    EmbedBody,
    EmbeddingsBody,
    ModelBody,
)

router = APIRouter()

# The Ollama API version this server speaks, reported by /api/version when the backend has no
# version of its own (tools compare it against the Ollama release that added a feature).
OLLAMA_API_VERSION = "0.12.0"


def model_json(model: ModelInfo) -> dict[str, Any]:
    """One ``/api/tags`` entry."""
    out: dict[str, Any] = {"name": model.name, "model": model.name}
    if model.modified_at:
        out["modified_at"] = model.modified_at
    out["size"] = model.size
    out["digest"] = model.digest
    out["details"] = model.details
    return out


def running_json(model: RunningModel) -> dict[str, Any]:
    """One ``/api/ps`` entry."""
    out: dict[str, Any] = {
        "name": model.name,
        "model": model.name,
        "size": model.size,
        "digest": model.digest,
        "details": model.details,
    }
    if model.expires_at:
        out["expires_at"] = model.expires_at
    out["size_vram"] = model.size_vram
    if model.context_length:
        out["context_length"] = model.context_length
    return out


@router.get("/api/tags")
async def tags(backend: BackendDep) -> Response:
    listed = visible(await backend.list_models(), lambda m: m.name)  # the key's models only
    return JSONResponse({"models": [model_json(m) for m in listed]})


@router.get("/api/ps")
async def ps(backend: BackendDep) -> Response:
    running = visible(await backend.running(), lambda m: m.name)
    return JSONResponse({"models": [running_json(m) for m in running]})


@router.get("/api/version")
async def version(backend: BackendDep) -> Response:
    upstream = getattr(backend, "version", None)  # the Ollama backend reports its server's
    found = await upstream() if upstream is not None else ""
    return JSONResponse({"version": found or OLLAMA_API_VERSION})


@router.post("/api/show")
async def show(request: Request, backend: BackendDep) -> Response:
    body = await parse_body(request, ModelBody)
    require_model(body.model_name())  # outside the key's models: as if it did not exist
    data = dict(await backend.show(body.model_name(), verbose=body.verbose))
    data.setdefault("model_info", {})  # the ollama client requires the key
    return JSONResponse(data)


@router.post("/api/pull")
async def pull(request: Request, backend: BackendDep, settings: SettingsDep) -> Response:
    body = await parse_body(request, ModelBody)
    await check_pull(body.model_name(), body.insecure, settings)  # no SSRF through a pull
    events = backend.pull(body.model_name(), insecure=body.insecure)
    if body.stream is False:
        return JSONResponse(await until_disconnect(request, _last_event(events)))
    first, rest = await until_disconnect(request, start_stream(events))
    lines = stream_lines(first, rest, _line, _error_line, request_id(request))
    return ndjson_response(lines)


async def _last_event(events) -> dict[str, Any]:
    last: dict[str, Any] | None = None
    try:
        async for event in events:
            last = event
    finally:
        await events.aclose()
    if last is None:
        raise UpstreamBadResponse("the pull ended without a status")
    return last


@router.delete("/api/delete")
async def delete(request: Request, backend: BackendDep) -> Response:
    body = await parse_body(request, ModelBody)
    await backend.delete(body.model_name())
    return Response(status_code=200)


@router.post("/api/copy")
async def copy(request: Request, backend: BackendDep) -> Response:
    body = await parse_body(request, CopyBody)
    await backend.copy(*body.names())
    return Response(status_code=200)


@router.post("/api/embed")
async def embed(request: Request, backend: BackendDep, settings: SettingsDep) -> Response:
    body = await parse_body(request, EmbedBody)
    req = body.to_request()
    req.model = req.model or settings.model_name
    enforce_embed(req, settings)
    if not req.inputs:
        return JSONResponse({"model": req.model, "embeddings": []})
    result = await until_disconnect(request, backend.embed(req))
    return JSONResponse(
        {
            "model": result.model or req.model,
            "embeddings": result.embeddings,
            "total_duration": result.total_duration,
            "load_duration": result.load_duration,
            "prompt_eval_count": result.prompt_eval_count,
        }
    )


@router.post("/api/embeddings")
async def embeddings(request: Request, backend: BackendDep, settings: SettingsDep) -> Response:
    body = await parse_body(request, EmbeddingsBody)
    req = body.to_request()
    req.model = req.model or settings.model_name
    enforce_embed(req, settings)
    if not req.inputs:
        return JSONResponse({"embedding": []})
    result = await until_disconnect(request, backend.embed(req))
    if not result.embeddings:
        raise UpstreamBadResponse("the backend returned no embedding")
    return JSONResponse({"embedding": result.embeddings[0]})


def _line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


def _error_line(message: str) -> bytes:
    return _line({"error": message})
