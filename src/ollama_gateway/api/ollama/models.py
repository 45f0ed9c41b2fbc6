"""Ollama's model endpoints: tags, show, ps, version, pull, delete, copy, embed, embeddings.

Each is a thin router over ``app.state.backend``; replies use Ollama's field names so that the
official clients (``ollama`` for Python, Open WebUI, LangChain) parse them unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from ollama_gateway.accounts.policy import enforce_embed, require_model, visible
from ollama_gateway.api.bodies import JSONBodyRoute, JSONResponse, request_id
from ollama_gateway.api.errors import EDGE, UPSTREAM, error_responses
from ollama_gateway.api.ollama.render import error_line, ndjson_line
from ollama_gateway.api.openapi import ndjson
from ollama_gateway.api.routes import Routes
from ollama_gateway.api.streaming import (
    ndjson_response,
    start_stream,
    stream_lines,
    until_disconnect,
)
from ollama_gateway.core.types import ModelInfo, RunningModel
from ollama_gateway.errors import BadRequest, UpstreamBadResponse
from ollama_gateway.http.deps import BackendDep, ServiceDep, SettingsDep
from ollama_gateway.models.registry_guard import check_pull
from ollama_gateway.schemas.ollama import (
    CopyBody,
    EmbedBody,
    EmbeddingsBody,
    ModelBody,
)
from ollama_gateway.schemas.ollama_replies import (
    EmbeddingsReply,
    EmbedReply,
    Progress,
    PsReply,
    ShowReply,
    StreamError,
    TagsReply,
    VersionReply,
)

routes = Routes(
    tags=["Ollama"],
    responses=error_responses("ollama", *EDGE, *UPSTREAM),
    route_class=JSONBodyRoute,
)
_BAD = error_responses("ollama", 400, 404)


def _ok(
    model: type[BaseModel], description: str = "OK", bad: bool = True, **more: Any
) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description, **more}, **(_BAD if bad else {})}


_EMPTY = {200: {"description": "Done; the body is empty"}, **_BAD}

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
    if model.upstream:
        out["upstream"] = model.upstream  # the fleet's upstream; clients ignore unknown fields
    return out


@routes.get("/api/tags", responses=_ok(TagsReply, bad=False))
async def tags(backend: BackendDep) -> Response:
    listed = visible(await backend.list_models(), lambda m: m.name)  # the key's models only
    return JSONResponse({"models": [model_json(m) for m in listed]})


@routes.get("/api/ps", responses=_ok(PsReply, bad=False))
async def ps(backend: BackendDep) -> Response:
    running = visible(await backend.running(), lambda m: m.name)
    return JSONResponse({"models": [running_json(m) for m in running]})


@routes.get("/api/version", responses=_ok(VersionReply, bad=False))
async def version(backend: BackendDep) -> Response:
    upstream = getattr(backend, "version", None)  # the Ollama backend reports its server's
    found = await upstream() if upstream is not None else ""
    return JSONResponse({"version": found or OLLAMA_API_VERSION})


@routes.post("/api/show", responses=_ok(ShowReply))
async def show(body: ModelBody, backend: BackendDep) -> Response:
    require_model(body.model_name())  # outside the key's models: as if it did not exist
    data = dict(await backend.show(body.model_name(), verbose=body.verbose))
    data.setdefault("model_info", {})  # the ollama client requires the key
    return JSONResponse(data)


_PULL = _ok(
    Progress,
    "Streamed unless `stream: false`: NDJSON, one status per line, ending with "
    '`{"status": "success"}` or an `{"error"}` line. Without streaming: the last status.',
    content=ndjson(Progress, StreamError),
)


def _on_upstream(backend: Any, upstream: str | None) -> dict[str, Any]:
    """``upstream=NAME`` for a fleet's pull, delete and copy (a 400 without a fleet)."""
    if upstream is None:
        return {}
    if not getattr(backend, "targets_upstreams", False):
        raise BadRequest("this gateway has no upstreams to choose from")
    return {"upstream": upstream}


@routes.post("/api/pull", responses=_PULL)
async def pull(
    request: Request, body: ModelBody, backend: BackendDep, settings: SettingsDep
) -> Response:
    target = _on_upstream(backend, body.upstream)
    await check_pull(body.model_name(), body.insecure, settings)  # no SSRF through a pull
    events = backend.pull(body.model_name(), insecure=body.insecure, **target)
    if body.stream is False:
        return JSONResponse(await until_disconnect(request, _last_event(events)))
    first, rest = await until_disconnect(request, start_stream(events))
    lines = stream_lines(first, rest, ndjson_line, error_line, request_id(request))
    return ndjson_response(lines)


async def _last_event(events: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any]:
    last: dict[str, Any] | None = None
    try:
        async for event in events:
            last = event
    finally:
        await events.aclose()
    if last is None:
        raise UpstreamBadResponse("the pull ended without a status")
    return last


@routes.delete("/api/delete", response_class=Response, responses=_EMPTY)
async def delete(body: ModelBody, backend: BackendDep) -> Response:
    await backend.delete(body.model_name(), **_on_upstream(backend, body.upstream))
    return Response(status_code=200)


@routes.post("/api/copy", response_class=Response, responses=_EMPTY)
async def copy(body: CopyBody, backend: BackendDep) -> Response:
    await backend.copy(*body.names(), **_on_upstream(backend, body.upstream))
    return Response(status_code=200)


@routes.post("/api/embed", responses=_ok(EmbedReply))
async def embed(
    request: Request, body: EmbedBody, service: ServiceDep, settings: SettingsDep
) -> Response:
    req = body.to_request()
    req.model = req.model or settings.model_name
    enforce_embed(req, settings)
    if not req.inputs:
        return JSONResponse({"model": req.model, "embeddings": []})
    result = await until_disconnect(request, service.embed(req))
    return JSONResponse(
        {
            "model": result.model or req.model,
            "embeddings": result.embeddings,
            "total_duration": result.total_duration,
            "load_duration": result.load_duration,
            "prompt_eval_count": result.prompt_eval_count,
        }
    )


@routes.post("/api/embeddings", responses=_ok(EmbeddingsReply))
async def embeddings(
    request: Request, body: EmbeddingsBody, service: ServiceDep, settings: SettingsDep
) -> Response:
    req = body.to_request()
    req.model = req.model or settings.model_name
    enforce_embed(req, settings)
    if not req.inputs:
        return JSONResponse({"embedding": []})
    result = await until_disconnect(request, service.embed(req))
    if not result.embeddings:
        raise UpstreamBadResponse("the backend returned no embedding")
    return JSONResponse({"embedding": result.embeddings[0]})
