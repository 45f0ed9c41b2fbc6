"""Ollama's generation endpoints, ``/api/generate`` (also the seed contract) and ``/api/chat``.

The seed contract lives on ``/api/generate``: a body with only ``prompt`` uses the default model,
and without ``stream`` the reply is one JSON object carrying ``generated_text``, ``model`` and
``elapsed_time`` beside Ollama's own fields.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from ollama_gateway.api.bodies import JSONResponse, parse_body, request_id
from ollama_gateway.api.ollama.render import Lines, chat_json, error_line, generate_json
from ollama_gateway.api.streaming import (
    ndjson_response,
    start_stream,
    stream_lines,
    until_disconnect,
)
from ollama_gateway.errors import BadRequest
from ollama_gateway.http.deps import ServiceDep
from ollama_gateway.schemas.ollama import ChatBody, GenerateBody

router = APIRouter()


def _started(request: Request) -> float:
    return request.scope.get("state", {}).get("started", time.perf_counter())


@router.post("/api/generate")
async def generate(request: Request, service: ServiceDep) -> Response:
    body = await parse_body(request, GenerateBody)
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
    first, rest = await until_disconnect(request, start_stream(service.stream(req)))
    model = first.model or model
    lines = stream_lines(first, rest, Lines(model, chat=False), error_line, req.request_id)
    return ndjson_response(lines)


@router.post("/api/chat")
async def chat(request: Request, service: ServiceDep) -> Response:
    body = await parse_body(request, ChatBody)
    req = body.to_request()
    req.request_id = request_id(request)
    if body.stream is None:
        req.stream = True  # Ollama streams unless told otherwise
    if not req.stream:
        chunk = await until_disconnect(request, service.complete(req))
        return JSONResponse(chat_json(chunk, req.model))
    model = req.model or service.settings.model_name
    first, rest = await until_disconnect(request, start_stream(service.stream(req)))
    model = first.model or model
    lines = stream_lines(first, rest, Lines(model, chat=True), error_line, req.request_id)
    return ndjson_response(lines)
