"""The Ollama upstream backend: Ollama's HTTP API through a pooled keep-alive client.

Timeouts: ``connect_timeout`` to connect; a streamed reply must produce its first line within
``first_token_timeout`` and never stall longer than that between lines; the whole exchange is
bounded by ``request_timeout``. Closing a generator closes the upstream connection, which makes
Ollama stop generating.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from ollama_gateway.backends.ollama import creating
from ollama_gateway.backends.ollama.replies import (
    batch_chunks,
    chat_chunk,
    decode_line,
    generate_chunk,
)
from ollama_gateway.backends.upstream.exchange import Exchange
from ollama_gateway.backends.upstream.http import UpstreamClient
from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    Message,
    ModelInfo,
    RunningModel,
)
from ollama_gateway.errors import (
    UpstreamBadResponse,
)
from ollama_gateway.models.create import CreateSpec
from ollama_gateway.settings import Settings

log = logging.getLogger(__name__)


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        out["images"] = message.images
    if message.tool_calls:
        out["tool_calls"] = message.tool_calls
    if message.thinking:
        out["thinking"] = message.thinking
    if message.tool_name:
        out["tool_name"] = message.tool_name
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_body(request: GenerationRequest) -> dict[str, Any]:
    """The JSON Ollama receives for a neutral request (only fields that were set)."""
    body: dict[str, Any] = {"model": request.model}
    if request.kind == "generate":
        body["prompt"] = request.prompt
        for name in ("suffix", "system", "template", "images", "context"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.raw:
            body["raw"] = True
    else:
        body["messages"] = [_message_json(m) for m in request.messages]
        if request.tools:
            body["tools"] = request.tools
    if request.format is not None:
        body["format"] = request.format
    if request.options:
        body["options"] = request.options
    body["stream"] = request.stream
    if request.keep_alive is not None:
        body["keep_alive"] = request.keep_alive
    if request.think is not None:
        body["think"] = request.think
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    return body


class OllamaBackend:
    """Generations and models from an Ollama server.

    ``url`` (default: the settings' Ollama URL), ``headers`` and ``address`` are given when the
    server is one upstream of a fleet.
    """

    name = "ollama"
    splits_thinking = True  # Ollama fills `thinking` itself when asked with `think`

    def __init__(
        self,
        settings: Settings,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        address: str | None = None,
    ) -> None:
        self.base_url = url or settings.ollama_url
        self.upstream = Exchange(
            self.base_url,
            "Ollama",
            connect_timeout=settings.connect_timeout,
            first_token_timeout=settings.first_token_timeout,
            total_timeout=settings.request_timeout,
            headers=headers,
            address=address,
        )

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.upstream.start()

    async def close(self) -> None:
        await self.upstream.close()

    @property
    def client(self) -> UpstreamClient:
        return self.upstream.client

    async def _json(
        self, method: str, path: str, body: Any = None, model: str | None = None
    ) -> Any:
        return await self.upstream.json(method, path, body, model)

    def _lines(
        self, path: str, body: dict[str, Any], model: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON objects of a streamed NDJSON reply."""
        return self.upstream.lines(path, body, model, decode_line)

    # -- generation -------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation("api/generate", request)

    def chat(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation("api/chat", request)

    async def _generation(
        self, path: str, request: GenerationRequest
    ) -> AsyncGenerator[Chunk, None]:
        body = request_body(request)
        to_chunk = generate_chunk if request.kind == "generate" else chat_chunk
        if not request.stream:
            data = await self._json("POST", path, body, request.model)
            if not isinstance(data, dict):
                raise UpstreamBadResponse("malformed reply from Ollama (not an object)")
            yield to_chunk(data, request.model)
            return
        async with aclosing(self.upstream.batches(path, body, request.model)) as batches:
            async for batch in batches:
                chunks, error = batch_chunks(batch, to_chunk, request.model, request.coalesce)
                for chunk in chunks:
                    yield chunk
                    if chunk.done:
                        return
                if error is not None:
                    raise error
        raise UpstreamBadResponse("Ollama ended the stream before it was done")

    # -- models -----------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        data = await self._json("GET", "api/tags")
        return [
            ModelInfo(
                name=m.get("name") or m.get("model", ""),
                size=int(m.get("size") or 0),
                digest=m.get("digest", ""),
                modified_at=m.get("modified_at", ""),
                details=m.get("details") or {},
            )
            for m in _models(data)
        ]

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model}
        if verbose:
            body["verbose"] = True
        data = await self._json("POST", "api/show", body, model)
        if not isinstance(data, dict):
            raise UpstreamBadResponse("malformed reply from Ollama (not an object)")
        return data

    async def running(self) -> list[RunningModel]:
        data = await self._json("GET", "api/ps")
        return [
            RunningModel(
                name=m.get("name") or m.get("model", ""),
                size=int(m.get("size") or 0),
                digest=m.get("digest", ""),
                expires_at=m.get("expires_at", ""),
                size_vram=int(m.get("size_vram") or 0),
                context_length=int(m.get("context_length") or 0),
                details=m.get("details") or {},
            )
            for m in _models(data)
        ]

    async def pull(
        self, model: str, insecure: bool = False
    ) -> AsyncGenerator[dict[str, Any], None]:
        body = {"model": model, "insecure": insecure, "stream": True}
        async for event in self._lines("api/pull", body, model):
            yield event

    async def delete(self, model: str) -> None:
        await self._json("DELETE", "api/delete", {"model": model}, model)

    async def copy(self, source: str, destination: str) -> None:
        await self._json("POST", "api/copy", {"source": source, "destination": destination}, source)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        body: dict[str, Any] = {"model": request.model, "input": request.inputs}
        if not request.truncate:
            body["truncate"] = False
        if request.options:
            body["options"] = request.options
        if request.keep_alive is not None:
            body["keep_alive"] = request.keep_alive
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        data = await self._json("POST", "api/embed", body, request.model)
        try:
            return EmbedResult(
                model=data.get("model") or request.model,
                embeddings=data["embeddings"],
                prompt_eval_count=int(data.get("prompt_eval_count") or 0),
                total_duration=int(data.get("total_duration") or 0),
                load_duration=int(data.get("load_duration") or 0),
            )
        except (KeyError, TypeError, AttributeError):
            raise UpstreamBadResponse("malformed embed reply from Ollama") from None

    def create(self, spec: CreateSpec) -> AsyncIterator[dict[str, Any]]:
        """``/api/create`` passed through (creating.py)."""
        return creating.create(self, spec)

    async def has_blob(self, digest: str) -> bool:
        return await creating.has_blob(self, digest)

    async def upload_blob(self, digest: str, body: AsyncIterator[bytes], max_bytes: int) -> bool:
        return await creating.upload_blob(self, digest, body, max_bytes)

    async def version(self) -> str:
        data = await self._json("GET", "api/version")
        return str((data or {}).get("version", ""))

    async def check_ready(self) -> tuple[bool, str]:
        return await self.upstream.probe("api/version")


def _models(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise UpstreamBadResponse("malformed model list from Ollama")
    return [m for m in data.get("models") or [] if isinstance(m, dict)]
