"""A backend whose replies a test enqueues, for behaviour that no upstream server decides.

It splits no reasoning itself (``splits_thinking = False``, like the embedded engine), so the
gateway's own ``<think>`` handling is what a test sees. Every request it receives is recorded,
and it counts the generations running now (``active``), the most at once (``peak``) and those
closed before they were done (``closed``).
"""

from __future__ import annotations

import asyncio
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


@dataclass(frozen=True)
class Pause:
    """A script item: wait this long before the next item."""

    seconds: float


@dataclass(frozen=True)
class Endless:
    """A script item: ``text`` every ``every`` seconds, never done (until the consumer leaves)."""

    text: str = "x"
    every: float = 0.01


@dataclass
class ScriptedBackend:
    """``replies``: lists of items (a text piece, a ready :class:`Chunk`, an exception to raise,
    a :class:`Pause`, an :class:`Endless` stream), consumed one list per generation; once they
    run out, each generation plays ``otherwise``. The final ``done`` chunk is added."""

    replies: list[list[Any]] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=lambda: ["ok"])
    starts_in_thinking: bool = False
    requests: list[GenerationRequest] = field(default_factory=list)
    name: str = "scripted"
    splits_thinking: bool = False
    active: int = 0
    peak: int = 0
    closed: int = 0

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
        script = self.replies.pop(0) if self.replies else list(self.otherwise)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            async for chunk in self._play(script, request.model):
                yield chunk
        except GeneratorExit:
            self.closed += 1
            raise
        finally:
            self.active -= 1

    async def _play(self, script: list[Any], model: str) -> AsyncIterator[Chunk]:
        first, sent = True, 0
        for item in script:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
                continue
            while isinstance(item, Endless):
                yield Chunk(text=item.text, model=model)
                await asyncio.sleep(item.every)
            chunk = item if isinstance(item, Chunk) else Chunk(text=item)
            chunk.model = chunk.model or model
            if first:
                chunk.starts_in_thinking = self.starts_in_thinking
                first = False
            sent += 1
            yield chunk
        yield Chunk(
            done=True,
            done_reason="stop",
            model=model,
            stats=Stats(prompt_eval_count=5, eval_count=sent),
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
