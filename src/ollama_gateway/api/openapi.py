"""``/openapi.json``: FastAPI's schema of every route, plus what FastAPI cannot see by itself.

- The API key. The middleware checks it (not a FastAPI dependency), so the schema declares it
  here: both ways of sending one (``X-API-KEY``, ``Authorization: Bearer``), required by every
  operation except the public ones (``security: []``).
- The models of streamed lines and events. A route's 200 reply names its JSON model through
  FastAPI's ``responses=``; its ``application/x-ndjson`` or ``text/event-stream`` content
  references a model by name (:func:`ndjson`, :func:`sse`), added to the components here.

Built on the first request for it and kept, FastAPI's own pattern for extending the schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ollama_gateway.schemas.ollama_replies import GenerateChunk, StreamError
from ollama_gateway.schemas.openai_replies import ChatCompletionChunk

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
REF = "#/components/schemas/{model}"

# Models that only streams use; each is referenced through ndjson() or sse().
STREAM_MODELS: tuple[type[BaseModel], ...] = (GenerateChunk, StreamError, ChatCompletionChunk)

SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "The same API key"},
}


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def ndjson(*models: type[BaseModel]) -> dict[str, Any]:
    """``content`` for a reply that streams one JSON object per line, each one of ``models``."""
    schema = ref(models[0]) if len(models) == 1 else {"anyOf": [ref(m) for m in models]}
    return {NDJSON: {"schema": schema}}


def sse(model: type[BaseModel]) -> dict[str, Any]:
    """``content`` for a reply streamed as ``data: <model as JSON>`` events, then ``[DONE]``."""
    return {SSE: {"schema": ref(model)}}


def build_openapi(app: FastAPI, public: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The whole schema; ``public``: (method, path) pairs that need no key.

    The key is declared even when none is configured yet: keys may also come from the
    database at run time (``--database-url``)."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    _, extra = models_json_schema(
        [(model, "serialization") for model in STREAM_MODELS], ref_template=REF
    )
    for name, definition in extra.get("$defs", {}).items():
        components.setdefault("schemas", {}).setdefault(name, definition)
    components["securitySchemes"] = SECURITY_SCHEMES
    schema["security"] = [{name: []} for name in SECURITY_SCHEMES]
    for method, path in public:
        operation = schema.get("paths", {}).get(path, {}).get(method.lower())
        if operation is not None:
            operation["security"] = []
    return schema


def install(app: FastAPI, public: Iterable[tuple[str, str]]) -> None:
    """Make ``app.openapi()`` (what ``/openapi.json`` serves) return :func:`build_openapi`."""
    pairs = tuple(public)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, pairs)
        return app.openapi_schema

    # FastAPI documents replacing app.openapi; mypy refuses assigning to a method
    app.openapi = openapi  # type: ignore[method-assign]
