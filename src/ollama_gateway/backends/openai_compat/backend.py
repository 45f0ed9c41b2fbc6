"""An OpenAI-compatible server (vLLM, SGLang, TGI, LM Studio, llama-server, another
ollama-gateway) as a backend, so that every API the gateway speaks can be served by it.

Requests are translated by :mod:`.request`, replies by :mod:`.reply`. Models come from
``GET /v1/models``; they are all loaded (these servers serve what they started with), so
``running()`` lists them too. Embeddings use ``/v1/embeddings``. Pulling, deleting and copying
models is done on the server itself: here they answer a clear 400.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from datetime import datetime, timezone
from typing import Any

from ollama_gateway.backends.openai_compat.reply import (
    DONE_LINE,
    ReplyReader,
    decode_event,
    event_data,
)
from ollama_gateway.backends.openai_compat.request import (
    chat_body,
    completion_body,
    uses_completions,
)
from ollama_gateway.backends.upstream.exchange import Exchange
from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    ModelInfo,
    RunningModel,
)
from ollama_gateway.errors import ModelNotFound, Unsupported, UpstreamBadResponse
from ollama_gateway.settings import Settings

LABEL = "the OpenAI-compatible server"


class OpenAIBackend:
    """Generations, embeddings and the model list of an OpenAI-compatible server."""

    name = "openai"
    splits_thinking = True  # reasoning arrives apart (reasoning_content) or is split by the API

    def __init__(
        self,
        settings: Settings,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        address: str | None = None,
    ) -> None:
        self.base_url = url
        self.upstream = Exchange(
            url,
            LABEL,
            connect_timeout=settings.connect_timeout,
            first_token_timeout=settings.first_token_timeout,
            total_timeout=settings.request_timeout,
            headers=headers,
            address=address,
        )

    async def start(self) -> None:
        await self.upstream.start()

    async def close(self) -> None:
        await self.upstream.close()

    # -- generation -------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    def chat(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    async def _generation(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        started = time.perf_counter_ns()
        if uses_completions(request):
            path, body = "v1/completions", completion_body(request, request.model)
        else:
            path, body = "v1/chat/completions", chat_body(request, request.model)
        reader = ReplyReader(request.model, request.think is None, started)
        if not request.stream:
            reply = await self.upstream.json("POST", path, body, request.model)
            yield reader.whole(reply)
            return
        ended = False
        async with aclosing(self.upstream.lines(path, body, request.model)) as lines:
            async for line in lines:  # read to the end, so that the connection can be reused
                data = event_data(line)
                if data is None or ended:
                    continue
                if data == DONE_LINE:
                    ended = True
                    continue
                chunk = reader.event(decode_event(data, LABEL))
                if chunk is not None:
                    yield chunk
        if not ended and reader.finish_reason is None:
            raise UpstreamBadResponse(f"{LABEL} ended the stream before it was done")
        yield reader.finish()

    # -- embeddings -------------------------------------------------------------------------
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        started = time.perf_counter_ns()
        body: dict[str, Any] = {"model": request.model, "input": request.inputs}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        reply = await self.upstream.json("POST", "v1/embeddings", body, request.model)
        try:
            items = sorted(reply["data"], key=lambda item: item.get("index", 0))
            vectors = [list(item["embedding"]) for item in items]
            usage = reply.get("usage") or {}
        except (KeyError, TypeError, AttributeError):
            raise UpstreamBadResponse(f"malformed embeddings reply from {LABEL}") from None
        if len(vectors) != len(request.inputs):
            raise UpstreamBadResponse(f"{LABEL} returned {len(vectors)} embeddings")
        return EmbedResult(
            model=request.model,
            embeddings=vectors,
            prompt_eval_count=int(usage.get("prompt_tokens") or 0),
            total_duration=time.perf_counter_ns() - started,
        )

    # -- models -----------------------------------------------------------------------------
    async def _listed(self) -> list[dict[str, Any]]:
        reply = await self.upstream.json("GET", "v1/models")
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list):
            raise UpstreamBadResponse(f"malformed model list from {LABEL}")
        return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name=m["id"], modified_at=_rfc3339(m.get("created")), details=_details(m))
            for m in await self._listed()
        ]

    async def running(self) -> list[RunningModel]:
        return [
            RunningModel(name=m["id"], details=_details(m), context_length=_context(m))
            for m in await self._listed()
        ]

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        for found in await self._listed():
            if found["id"] == model:
                info: dict[str, Any] = {}
                if _context(found):
                    info["general.context_length"] = _context(found)
                return {
                    "modelfile": "",
                    "parameters": "",
                    "template": "",
                    "details": _details(found),
                    "model_info": info,
                    "capabilities": ["completion"],
                    "modified_at": _rfc3339(found.get("created")),
                }
        raise ModelNotFound(model)

    async def pull(
        self, model: str, insecure: bool = False
    ) -> AsyncGenerator[dict[str, Any], None]:
        raise Unsupported(f"{LABEL} at {self.base_url} cannot pull models: pull on the server")
        yield {}  # pragma: no cover - an async generator that fails at once

    async def delete(self, model: str) -> None:
        raise Unsupported(f"{LABEL} at {self.base_url} cannot delete models")

    async def copy(self, source: str, destination: str) -> None:
        raise Unsupported(f"{LABEL} at {self.base_url} cannot copy models")

    async def check_ready(self) -> tuple[bool, str]:
        return await self.upstream.probe("v1/models")


def _rfc3339(created: Any) -> str:
    if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
        return ""
    try:
        stamp = datetime.fromtimestamp(created, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return ""
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _details(model: dict[str, Any]) -> dict[str, Any]:
    owner = model.get("owned_by")
    return {"format": "", "family": str(owner) if isinstance(owner, str) else ""}


def _context(model: dict[str, Any]) -> int:
    value = model.get("max_model_len")  # vLLM
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
