"""Request metrics and the access log, in one pure ASGI middleware; per-generation observation.

:class:`ObservabilityMiddleware` is the outermost layer: it times every HTTP request, counts it by
route template, method and status, and writes one access-log line when the response has ended
(streams included). What inner layers learn about the request they leave in ``scope["state"]``:
``request_id`` and ``api_key`` (the gateway middleware), ``model``, ``prompt_tokens`` and
``generated_tokens`` (:class:`GenerationObserver`, through :func:`request_state`).

:class:`GenerationObserver` watches one generation's chunks for the service: time to first token,
token counts and speed at the end, upstream failures by kind, and, only with ``--log-prompts``,
the prompt and the output with the request id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from starlette.routing import Match

from ollama_gateway.core.types import Chunk, GenerationRequest
from ollama_gateway.errors import (
    GatewayError,
    RateLimited,
    ServiceUnavailable,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ollama_gateway.logs import log_output, log_prompt
from ollama_gateway.metrics import UNMATCHED, Metrics

access_log = logging.getLogger("ollama_gateway.access")

CLIENT_CLOSED = 499  # the client went away before any response (nginx's convention)
_MAX_PATH = 200

_state: ContextVar[dict[str, Any] | None] = ContextVar("ollama_gateway_request_state", default=None)


def request_state() -> dict[str, Any] | None:
    """The current request's ``scope["state"]`` (None outside a request)."""
    return _state.get()


def leaf_routes(routes) -> list[Any]:
    """Every endpoint route under ``routes``, looking through included routers and mounts."""
    leaves: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        children = getattr(inner if inner is not None else route, "routes", None)
        if children is not None and not hasattr(route, "endpoint"):
            leaves.extend(leaf_routes(children))
        elif getattr(route, "path", None):
            leaves.append(route)
    return leaves


def route_of(scope: dict[str, Any], leaves: list[Any] | None = None) -> str:
    """The route template that answered (or would answer) ``scope``; ``unmatched`` if none.

    The router leaves the answering route in ``scope["route"]``; a request that never reached it
    (a 401) or reached it on a copy of the scope (a trailing slash) is matched against ``leaves``.
    """
    route = scope.get("route")
    if route is None and leaves:
        path = scope["path"]
        probe = {
            "type": "http",
            "path": path.rstrip("/") or "/",
            "root_path": scope.get("root_path", ""),
            "method": scope["method"],
        }
        partial = None
        for candidate in leaves:
            match, _ = candidate.matches(probe)
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    return getattr(route, "path", None) or UNMATCHED


def _printable(path: str) -> str:
    path = path[:_MAX_PATH]
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")


class ObservabilityMiddleware:
    """Pure ASGI: request count and duration by route, requests in flight, the access log."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._leaves: list[Any] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        token = _state.set(state)
        status = 0

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        http = metrics.http
        http.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            status = status or CLIENT_CLOSED
            raise
        finally:
            _state.reset(token)
            elapsed = time.perf_counter() - started
            status = status or 500
            if self._leaves is None and "route" not in scope:
                router = getattr(scope.get("app"), "router", None)
                self._leaves = leaf_routes(getattr(router, "routes", ()))
            route = route_of(scope, self._leaves)
            http.in_flight -= 1
            http.observe(route, scope["method"], status, elapsed)
            if status == 429 and "upstream_error" not in state:
                metrics.rejected("rate_limit")  # the rate limiter is the gateway's only own 429
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, state, route, status, elapsed)


def _log_access(scope, state: dict[str, Any], route: str, status: int, elapsed: float) -> None:
    key = state.get("api_key")
    path = _printable(scope["path"])
    fields: dict[str, Any] = {
        "request_id": state.get("request_id", "-"),
        "method": scope["method"],
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": round(elapsed * 1000, 1),
        "key_id": key.key_id if key is not None else "-",
    }
    text = (
        f"{fields['request_id']} {fields['method']} {path} {status} "
        f"{fields['duration_ms']:.1f}ms key={fields['key_id']}"
    )
    if "generated_tokens" in state:
        fields["model"] = state.get("model", "")
        fields["prompt_tokens"] = state.get("prompt_tokens", 0)
        fields["generated_tokens"] = state["generated_tokens"]
        text += (
            f" model={fields['model']} prompt_tokens={fields['prompt_tokens']}"
            f" generated_tokens={fields['generated_tokens']}"
        )
    access_log.info(text, extra={"fields": fields})


def upstream_kind(exc: BaseException) -> str | None:
    """The ``upstream_errors`` kind of an error an Ollama backend raised (None: not upstream's)."""
    if isinstance(exc, UpstreamUnavailable):
        return "unavailable"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamBadResponse):
        return "bad_response"
    if type(exc) is ServiceUnavailable:  # Ollama's own 503 (its queue is full)
        return "busy"
    if type(exc) is GatewayError:  # Ollama's 5xx, or an error line in its stream
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
        self._started = state.get("started") if state else None
        if self._started is None:
            self._started = time.perf_counter()
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
