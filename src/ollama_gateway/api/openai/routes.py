"""OpenAI-compatible endpoints under ``/v1``: chat completions, completions, models, embeddings.

Thin routers: the wire models (:mod:`ollama_gateway.schemas.openai`) build the neutral request,
:class:`~ollama_gateway.core.service.GenerationService` runs it, and
:mod:`ollama_gateway.api.openai.render` renders the chunks. Errors take OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``), chosen by path in ``api/errors.py``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ollama_gateway.accounts.policy import enforce_embed, may_use, visible
from ollama_gateway.api.bodies import JSONBodyRoute, JSONResponse, request_id
from ollama_gateway.api.errors import EDGE, UPSTREAM, error_body, error_responses
from ollama_gateway.api.openai.render import (
    DONE,
    ChatStream,
    CompletionStream,
    chat_completion,
    embeddings_list,
    text_completion,
)
from ollama_gateway.api.openapi import sse
from ollama_gateway.api.routes import Routes
from ollama_gateway.api.streaming import GatewayStream, start_stream, until_disconnect
from ollama_gateway.core.names import full_name
from ollama_gateway.core.times import rfc3339_seconds
from ollama_gateway.core.types import ModelInfo
from ollama_gateway.errors import ModelNotFound, clip
from ollama_gateway.http.deps import BackendDep, ServiceDep, SettingsDep
from ollama_gateway.http.shutdown import SHUTDOWN_MESSAGE
from ollama_gateway.schemas.openai import ChatCompletionBody, CompletionBody, OpenAIEmbeddingsBody
from ollama_gateway.schemas.openai_replies import (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    EmbeddingList,
    Model,
    ModelList,
)

routes = Routes(
    "/v1",
    tags=["OpenAI"],
    responses=error_responses("openai", *EDGE, *UPSTREAM),
    route_class=JSONBodyRoute,
)
_BAD = error_responses("openai", 400, 404)
_STREAMED = (
    "With `stream: true`: server-sent events, `data: <chunk>` each, ending with "
    '`data: [DONE]`; an error after the start is one `data: {"error": ...}` event before it.'
)
_CHAT = {
    200: {"model": ChatCompletion, "description": _STREAMED, "content": sse(ChatCompletionChunk)},
    **_BAD,
}
_COMPLETION = {
    200: {"model": Completion, "description": _STREAMED, "content": sse(Completion)},
    **_BAD,
}

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# How a stream still running when the server stops ends: an error event, then [DONE].
_SSE_FAREWELL = b"data: " + error_body("openai", 503, SHUTDOWN_MESSAGE) + b"\n\n" + DONE


def _sse(body: AsyncGenerator[bytes, None]) -> Response:
    return GatewayStream(body, _SSE_FAREWELL, media_type="text/event-stream", headers=_SSE_HEADERS)


@routes.post("/chat/completions", responses=_CHAT)
async def chat_completions(
    request: Request, body: ChatCompletionBody, service: ServiceDep
) -> Response:
    req = body.to_request()
    req.request_id = request_id(request)
    model = req.model or service.settings.model_name
    if not req.stream:
        chunk = await until_disconnect(request, service.complete(req, split_reasoning=True))
        return JSONResponse(chat_completion(chunk, model))
    first, rest = await until_disconnect(
        request, start_stream(service.stream(req, split_reasoning=True))
    )
    stream = ChatStream(first.model or model, body.include_usage)
    return _sse(stream.events(first, rest, req.request_id))


@routes.post("/completions", responses=_COMPLETION)
async def completions(request: Request, body: CompletionBody, service: ServiceDep) -> Response:
    req = body.to_request()
    req.request_id = request_id(request)
    model = req.model or service.settings.model_name
    echo = req.prompt if body.echo else ""
    if not req.stream:
        chunk = await until_disconnect(request, service.complete(req))
        return JSONResponse(text_completion(chunk, model, echo))
    first, rest = await until_disconnect(request, start_stream(service.stream(req)))
    stream = CompletionStream(first.model or model, body.include_usage, echo)
    return _sse(stream.events(first, rest, req.request_id))


def created_of(modified_at: str) -> int:
    """Unix seconds of an RFC 3339 time (any fraction digits, as Go writes them); 0 if unknown.

    >>> created_of("2025-01-01T10:00:00.123456789-08:00"), created_of("2025-01-01T00:00:00Z")
    (1735754400, 1735689600)
    >>> created_of("")
    0
    """
    seconds = rfc3339_seconds(modified_at)
    return 0 if seconds is None else math.floor(seconds)


def _model_json(model: ModelInfo) -> dict[str, Any]:
    owner = model.name.split("/")[0] if "/" in model.name else "library"
    return {
        "id": model.name,
        "object": "model",
        "created": created_of(model.modified_at),
        "owned_by": owner,
    }


def _same_model(asked: str, name: str) -> bool:
    """``llama2`` names ``llama2:latest``, as in Ollama."""
    return asked == name or full_name(asked) == full_name(name)


@routes.get("/models", responses={200: {"model": ModelList, "description": "OK"}})
async def models(backend: BackendDep) -> Response:
    listed = visible(await backend.list_models(), lambda m: m.name)  # the key's models only
    return JSONResponse({"object": "list", "data": [_model_json(m) for m in listed]})


@routes.get(
    "/models/{model_id:path}", responses={200: {"model": Model, "description": "OK"}, **_BAD}
)
async def model(model_id: str, backend: BackendDep) -> Response:
    for found in await backend.list_models():
        if _same_model(model_id, found.name) and may_use(found.name):
            return JSONResponse(_model_json(found))
    raise ModelNotFound(model_id, f"The model '{clip(model_id)}' does not exist")


@routes.post("/embeddings", responses={200: {"model": EmbeddingList, "description": "OK"}, **_BAD})
async def embeddings(
    request: Request, body: OpenAIEmbeddingsBody, service: ServiceDep, settings: SettingsDep
) -> Response:
    req = body.to_request()
    req.model = req.model or settings.model_name
    enforce_embed(req, settings)
    result = await until_disconnect(request, service.embed(req))
    return JSONResponse(
        embeddings_list(
            result.embeddings,
            result.model or req.model,
            result.prompt_eval_count,
            body.encoding_format,
        )
    )
