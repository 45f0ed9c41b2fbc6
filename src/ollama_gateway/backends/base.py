"""The one small protocol every backend implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol, runtime_checkable

from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    ModelInfo,
    RunningModel,
)

# Backends whose tokens come from upstream servers over HTTP: their failures are counted as
# upstream errors, and an unready one is "upstream_unavailable" rather than "loading".
UPSTREAM_BACKENDS = frozenset({"ollama", "openai", "fleet"})


@runtime_checkable
class Backend(Protocol):
    """A source of generations and models.

    ``generate`` and ``chat`` are async generators of :class:`Chunk`; the last one has
    ``done=True``. Closing the generator (client disconnect) must stop the work promptly.
    Failures are raised as :mod:`ollama_gateway.errors` exceptions, never as raw library errors.

    ``splits_thinking``: True when the backend itself fills ``Chunk.thinking`` according to
    ``request.think`` (Ollama does); otherwise the API layer splits ``<think>`` tags.
    """

    name: str
    splits_thinking: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]: ...

    def chat(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]: ...

    async def embed(self, request: EmbedRequest) -> EmbedResult: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        """Ollama's ``/api/show`` reply body for ``model``."""
        ...

    async def running(self) -> list[RunningModel]: ...

    def pull(self, model: str, insecure: bool = False) -> AsyncGenerator[dict[str, Any], None]:
        """Ollama's pull progress events (``{"status": ...}`` dicts), ending with success."""
        ...

    async def delete(self, model: str) -> None: ...

    async def copy(self, source: str, destination: str) -> None: ...

    async def check_ready(self) -> tuple[bool, str]:
        """(ready, reason). Cheap; called by ``GET /ready``."""
        ...
