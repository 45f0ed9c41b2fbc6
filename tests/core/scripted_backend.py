"""An in-process backend whose behaviour the test picks by model name (for service-level limits).

- ``forever``: a chunk every 10 ms, never done (only the service's deadline ends it)
- ``toolong``: raises ContextTooLong before any output, as the embedded engine does
- ``steady``: three chunks 20 ms apart, then done
- anything else: ``Hello`` then a done chunk with eval_count 1
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ollama_gateway.core.types import Chunk, GenerationRequest, Stats
from ollama_gateway.errors import ContextTooLong

TOO_LONG = "the prompt is 5000 tokens, more than the context length of 4096 tokens"


class ScriptedBackend:
    name = "scripted"
    splits_thinking = False

    def __init__(self) -> None:
        self.closed = 0  # generations closed before they were done
        self.active = 0  # generations running now
        self.peak = 0  # the most that ever ran at once

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self._run(request)

    def chat(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self._run(request)

    async def _run(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if request.model == "toolong":
            raise ContextTooLong(TOO_LONG)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if request.model == "steady":
                for _ in range(3):
                    yield Chunk(text="s", model=request.model)
                    await asyncio.sleep(0.02)
            if request.model == "forever":
                while True:
                    yield Chunk(text="x", model=request.model)
                    await asyncio.sleep(0.01)
            yield Chunk(text="Hello", model=request.model)
            yield Chunk(done=True, done_reason="stop", stats=Stats(eval_count=1))
        except GeneratorExit:
            self.closed += 1
            raise
        finally:
            self.active -= 1

    async def embed(self, request: Any) -> Any:
        raise NotImplementedError

    async def list_models(self) -> list:
        return []

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        return {}

    async def running(self) -> list:
        return []

    def pull(self, model: str, insecure: bool = False) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    async def delete(self, model: str) -> None:
        pass

    async def copy(self, source: str, destination: str) -> None:
        pass

    async def check_ready(self) -> tuple[bool, str]:
        return True, ""
