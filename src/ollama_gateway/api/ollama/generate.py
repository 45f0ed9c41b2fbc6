"""Ollama's generation endpoints, ``/api/generate`` (also the seed contract) and ``/api/chat``.

The seed contract lives on ``/api/generate``: a body with only ``prompt`` uses the default model,
and without ``stream`` the reply is one JSON object carrying ``generated_text``, ``model`` and
``elapsed_time`` beside Ollama's own fields.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ollama_gateway.api.bodies import JSONBodyRoute, JSONResponse, request_id
from ollama_gateway.api.errors import EDGE, UPSTREAM, error_responses
from ollama_gateway.api.ollama.render import Lines, chat_json, error_line, generate_json
from ollama_gateway.api.openapi import ndjson
from ollama_gateway.api.routes import Routes
from ollama_gateway.api.streaming import (
    ndjson_response,
    start_stream,
    stream_lines,
    until_disconnect,
)
from ollama_gateway.errors import BadRequest
from ollama_gateway.http.deps import ServiceDep
from ollama_gateway.schemas.ollama import ChatBody, GenerateBody
from ollama_gateway.schemas.ollama_replies import (
    ChatChunk,
    GenerateChunk,
    GenerateReply,
    StreamError,
)

routes = Routes(tags=["Ollama"], route_class=JSONBodyRoute)

_STREAMED = (
    "With `stream: true` the reply is NDJSON, one object per line; the last has `done: true` and "
    'the statistics, or is `{"error"}` when the generation fails after it started.'
)
GENERATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": GenerateReply,
        "description": "Without `stream` (the seed contract) or with `stream: false`: one JSON "
        "object carrying the whole response. " + _STREAMED,
        "content": ndjson(GenerateChunk, StreamError),
    },
    **error_responses("seed", 400, 404, *EDGE, *UPSTREAM),
}
CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatChunk,
        "description": "Streamed unless `stream: false`. " + _STREAMED,
        "content": ndjson(ChatChunk, StreamError),
    },
    **error_responses("ollama", 400, 404, *EDGE, *UPSTREAM),
}


def _started(request: Request) -> float:
    started: float = request.scope.get("state", {}).get("started", time.perf_counter())
    return started


@routes.post("/api/generate", responses=GENERATE_RESPONSES)
async def generate(request: Request, body: GenerateBody, service: ServiceDep) -> Response:
    """Generate a completion for a prompt (Ollama's API, and the seed contract)."""
    if body.prompt is None and not body.model:
        raise BadRequest("field 'prompt' is required")
    req = body.to_request()
    req.request_id = request_id(request)
    if body.stream is None:
        req.stream = False  # the seed contract: one JSON object
    if not req.stream:
        chunk = await until_disconnect(request, service.complete(req))
        out = generate_json(chunk, req.model)
        out["generated_text"] = chunk.text
        out["elapsed_time"] = time.perf_counter() - _started(request)
        return JSONResponse(out)
    model = req.model or service.settings.model_name
    req.coalesce = True  # Lines forwards what arrives together in one write
    first, rest = await until_disconnect(request, start_stream(service.stream(req)))
    model = first.model or model
    lines = stream_lines(first, rest, Lines(model, chat=False), error_line, req.request_id)
    return ndjson_response(lines)


@routes.post("/api/chat", responses=CHAT_RESPONSES)
async def chat(request: Request, body: ChatBody, service: ServiceDep) -> Response:
    """Generate the next message of a chat."""
    req = body.to_request()
    req.request_id = request_id(request)
    if body.stream is None:
        req.stream = True  # Ollama streams unless told otherwise
    if not req.stream:
        chunk = await until_disconnect(request, service.complete(req))
        return JSONResponse(chat_json(chunk, req.model))
    model = req.model or service.settings.model_name
    req.coalesce = True  # Lines forwards what arrives together in one write
    first, rest = await until_disconnect(request, start_stream(service.stream(req)))
    model = first.model or model
    lines = stream_lines(first, rest, Lines(model, chat=True), error_line, req.request_id)
    return ndjson_response(lines)
