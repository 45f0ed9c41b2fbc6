"""Watching one generation for metrics and logs, and the current request's shared state.

:class:`GenerationObserver` watches a generation's chunks for the service: time to first token,
token counts and speed at the end, upstream failures by kind, and, only with ``--log-prompts``,
the prompt and the output with the request id. What it learns about the request it leaves in the
request's state (``model``, ``prompt_tokens``, ``generated_tokens``), which the access log reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from ollama_gateway.core.types import Chunk, GenerationRequest
from ollama_gateway.errors import (
    RateLimited,
    UpstreamBadResponse,
    UpstreamBusy,
    UpstreamFailed,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.observability.logs import log_output, log_prompt
from ollama_gateway.observability.metrics import Metrics

# The current request's ``scope["state"]``, set by the outermost middleware.
request_state_var: ContextVar[dict[str, Any] | None] = ContextVar(
    "ollama_gateway_request_state", default=None
)
_state = request_state_var


def request_state() -> dict[str, Any] | None:
    """The current request's ``scope["state"]`` (None outside a request)."""
    return _state.get()


def upstream_kind(exc: BaseException) -> str | None:
    """The ``upstream_errors`` kind of an error an Ollama backend raised (None: not upstream's)."""
    if isinstance(exc, UpstreamUnavailable):
        return "unavailable"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamBadResponse):
        return "bad_response"
    if isinstance(exc, UpstreamBusy):  # its own 503 (its queue is full)
        return "busy"
    if isinstance(exc, UpstreamFailed | UpstreamServerError):  # a 5xx, or an error in its reply
        return "error"
    return None


class GenerationObserver:
    """Watches one generation's chunks (as the backend yields them) for metrics and logs."""

    __slots__ = (
        "_first",
        "_output",
        "_started",
        "count_loads",
        "metrics",
        "model",
        "request",
        "upstream",
    )

    def __init__(
        self,
        metrics: Metrics | None,
        request: GenerationRequest,
        upstream: bool,
        log_prompts: bool = False,
        count_loads: bool = True,
    ) -> None:
        self.metrics = metrics
        self.count_loads = count_loads and not upstream
        self.request = request
        self.model = request.model
        self.upstream = upstream
        state = _state.get()
        started: float | None = state.get("started") if state else None
        self._started = started if started is not None else time.perf_counter()
        self._first: float | None = None
        self._output: list[str] | None = [] if log_prompts else None
        if log_prompts:
            log_prompt(request)

    def watch(self, source: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        """``source``'s chunks, each shown to this observer first (and a failure, if any)."""
        return _Watched(source, self)

    def chunk(self, chunk: Chunk) -> None:
        if self._first is None and (chunk.text or chunk.thinking or chunk.tool_calls):
            self._first = time.perf_counter()
            if self.metrics is not None:
                ttft = self._first - self._started
                if chunk.done and chunk.stats is not None:
                    # the whole reply came at once (not streamed upstream): without the decode
                    # time, what is left is the wait for the first token
                    ttft -= chunk.stats.eval_duration / 1e9
                self.metrics.first_token(self.model, ttft)
        if self._output is not None:
            self._output.append(chunk.thinking + chunk.text)
        if chunk.done:
            self._finish(chunk)

    def _finish(self, chunk: Chunk) -> None:
        stats = chunk.stats
        prompt = stats.prompt_eval_count if stats else 0
        generated = stats.eval_count if stats else 0
        if stats and stats.eval_duration > 0:
            seconds = stats.eval_duration / 1e9
        elif self._first is not None:
            seconds = time.perf_counter() - self._first
        else:
            seconds = 0.0
        if self.metrics is not None:
            self.metrics.observe_tokens(self.model, prompt, generated, seconds)
            if stats and stats.load_duration > 0 and self.count_loads:
                # the embedded engine reports a load only to the request that caused it (Ollama
                # reports a few milliseconds on every request: not a load)
                self.metrics.observe_load(self.model, stats.load_duration / 1e9)
        state = _state.get()
        if state is not None:
            state["model"] = self.model
            state["prompt_tokens"] = state.get("prompt_tokens", 0) + prompt
            state["generated_tokens"] = state.get("generated_tokens", 0) + generated
            if self._first is not None:
                state["ttft"] = self._first - self._started
        if self._output is not None:
            log_output(self.request.request_id, "".join(self._output))

    def failed(self, exc: BaseException) -> None:
        if not self.upstream:
            return
        kind = upstream_kind(exc)
        if kind is None and isinstance(exc, RateLimited):
            kind = "rate_limited"  # Ollama's own 429
        if kind is None:
            return
        if self.metrics is not None:
            self.metrics.upstream_error(kind)
        state = _state.get()
        if state is not None:
            state["upstream_error"] = kind


class _Watched:
    """An async iterator (not a generator: nothing to finalise) relaying a backend's chunks."""

    __slots__ = ("observer", "source")

    def __init__(self, source: AsyncIterator[Chunk], observer: GenerationObserver) -> None:
        self.source = source
        self.observer = observer

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = await self.source.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            self.observer.failed(exc)
            raise
        self.observer.chunk(chunk)
        return chunk
