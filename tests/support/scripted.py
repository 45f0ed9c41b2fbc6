"""A backend whose replies a test enqueues, for behaviour that no upstream server decides.

It splits no reasoning itself (``splits_thinking = False``, like the embedded engine), so the
gateway's own ``<think>`` handling is what a test sees. Every request it receives is recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    ModelInfo,
    RunningModel,
    Stats,
)
from ollama_gateway.errors import GatewayError


@dataclass
class ScriptedBackend:
    """``replies``: lists of text pieces (or a ready :class:`Chunk`, or an exception to raise),
    consumed one list per generation; the final ``done`` chunk is added."""

    replies: list[list[Any]] = field(default_factory=list)
    starts_in_thinking: bool = False
    requests: list[GenerationRequest] = field(default_factory=list)
    name: str = "scripted"
    splits_thinking: bool = False

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self._run(request)

    def chat(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self._run(request)

    async def _run(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        script = self.replies.pop(0) if self.replies else ["ok"]
        first = True
        for item in script:
            if isinstance(item, BaseException):
                raise item
            chunk = item if isinstance(item, Chunk) else Chunk(text=item)
            chunk.model = chunk.model or request.model
            if first:
                chunk.starts_in_thinking = self.starts_in_thinking
                first = False
            yield chunk
        yield Chunk(
            done=True,
            done_reason="stop",
            model=request.model,
            stats=Stats(prompt_eval_count=5, eval_count=len(script)),
        )

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        return EmbedResult(
            model=request.model,
            embeddings=[[float(len(text)), 0.5, -1.25] for text in request.inputs],
            prompt_eval_count=sum(len(text.split()) for text in request.inputs),
        )

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name="tiny:latest", size=1, modified_at="2025-01-01T00:00:00Z")]

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        return {"template": "{{ .Prompt }}", "details": {}}

    async def running(self) -> list[RunningModel]:
        return []

    async def pull(self, model: str, insecure: bool = False) -> AsyncIterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        raise GatewayError("registry went away")

    async def delete(self, model: str) -> None:
        pass

    async def copy(self, source: str, destination: str) -> None:
        pass

    async def check_ready(self) -> tuple[bool, str]:
        return True, ""
