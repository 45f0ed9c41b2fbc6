"""Ollama's model creation: ``POST /api/create``, ``HEAD|POST /api/blobs/sha256:<hex>``.

As Ollama: a blob is uploaded first (``POST /api/blobs/<digest>``: 201 when stored, 200 when it
was already there, 400 when the body's digest differs), then ``/api/create`` names it in
``files`` (or names an existing model in ``from``) and streams status lines ending with
``{"status": "success"}``. Both need the ``manage`` scope (accounts/roles.py). The embedded
backend writes into its model store; the Ollama backend passes the requests through.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from ollama_gateway.api.bodies import JSONBodyRoute, JSONResponse, request_id
from ollama_gateway.api.errors import EDGE, UPSTREAM, error_responses
from ollama_gateway.api.ollama.models import _last_event
from ollama_gateway.api.ollama.render import error_line, ndjson_line
from ollama_gateway.api.openapi import ndjson
from ollama_gateway.api.routes import Routes
from ollama_gateway.api.streaming import (
    ndjson_response,
    start_stream,
    stream_lines,
    until_disconnect,
)
from ollama_gateway.errors import BadRequest, NotFound, Unsupported, clip
from ollama_gateway.http.deps import BackendDep, SettingsDep
from ollama_gateway.models.manifest import DIGEST_RE
from ollama_gateway.schemas.ollama_create import CreateBody
from ollama_gateway.schemas.ollama_replies import Progress, StreamError

routes = Routes(
    tags=["Ollama"],
    responses=error_responses("ollama", *EDGE, *UPSTREAM),
    route_class=JSONBodyRoute,
)

_CREATE = {
    200: {
        "model": Progress,
        "description": "Streamed unless `stream: false`: NDJSON status lines (`parsing GGUF`, "
        "`quantizing F16 model to Q4_K_M`, `using existing layer sha256:...`, `creating new "
        'layer sha256:...`, `writing manifest`), ending with `{"status": "success"}` or an '
        '`{"error"}` line. Without streaming: the last status.',
        "content": ndjson(Progress, StreamError),
    },
    **error_responses("ollama", 400, 404),
}
_BLOB = {
    200: {"description": "The blob is stored (HEAD), or was already (POST)"},
    201: {"description": "The blob was uploaded and its digest verified"},
    **error_responses("ollama", 400, 404, 413),
}


def _capable(backend: Any, method: str) -> Any:
    found = getattr(backend, method, None)
    if found is None:
        raise Unsupported("this server's backend cannot create models")
    return found


def _digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise BadRequest(f"invalid digest format {clip(digest, 80)!r}: expected sha256:<64 hex>")
    return digest


@routes.post("/api/create", responses=_CREATE)
async def create(
    request: Request, body: CreateBody, backend: BackendDep, settings: SettingsDep
) -> Response:
    spec = body.to_spec(settings.max_messages)
    events = _capable(backend, "create")(spec)
    if body.stream is False:
        return JSONResponse(await until_disconnect(request, _last_event(events)))
    first, rest = await until_disconnect(request, start_stream(events))
    return ndjson_response(stream_lines(first, rest, ndjson_line, error_line, request_id(request)))


@routes.head("/api/blobs/{digest}", response_class=Response, responses=_BLOB)
async def head_blob(digest: str, backend: BackendDep) -> Response:
    if not await _capable(backend, "has_blob")(_digest(digest)):
        raise NotFound(f'blob "{digest}" not found')
    return Response(status_code=200)


_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@routes.post("/api/blobs/{digest}", response_class=Response, responses=_BLOB, openapi_extra=_UPLOAD)
async def push_blob(
    request: Request, digest: str, backend: BackendDep, settings: SettingsDep
) -> Response:
    upload = _capable(backend, "upload_blob")
    created = await upload(_digest(digest), request.stream(), settings.max_blob_bytes)
    return Response(status_code=201 if created else 200)
