"""Request metrics and the access log, in one pure ASGI middleware.

:class:`ObservabilityMiddleware` is the outermost layer: it times every HTTP request, counts it by
route template, method and status, and writes one access-log line when the response has ended
(streams included). What inner layers learn about the request they leave in ``scope["state"]``:
``request_id`` and ``api_key`` (the gateway middleware), ``model``, ``prompt_tokens`` and
``generated_tokens`` (:class:`~ollama_gateway.core.observer.GenerationObserver`).

A request whose client left before the response started (an aborted upload, a client that gave
up waiting) is counted and logged as 499, whatever the app did after that. Client-supplied text
in the text line (the path, the model name) is quoted and escaped
(:func:`~ollama_gateway.observability.logs.quote_field`): it cannot forge a line or a field.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_gateway.core.observer import request_state_var
from ollama_gateway.observability.logs import quote_field
from ollama_gateway.observability.metrics import UNMATCHED, Metrics

access_log = logging.getLogger("ollama_gateway.access")

CLIENT_CLOSED = 499  # the client went away before any response (nginx's convention)
_MAX_PATH = 200

# (scope, state, route template, status, seconds): called once per finished request
UsageSink = Callable[[Scope, dict[str, Any], str, int, float], None]


def leaf_routes(routes: Iterable[BaseRoute]) -> list[Any]:
    """Every endpoint route under ``routes``, looking through included routers and mounts."""
    leaves: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        children = getattr(inner if inner is not None else route, "routes", None)
        if children and not hasattr(route, "endpoint"):
            leaves.extend(leaf_routes(children))  # a mount of an app (static files) is a leaf
        elif getattr(route, "path", None):
            leaves.append(route)
    return leaves


def route_of(scope: MutableMapping[str, Any], leaves: list[Any] | None = None) -> str:
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
            # a mount (the console's files) has moved root_path; the app's own is kept here
            "root_path": scope.get("app_root_path", scope.get("root_path", "")),
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


class ObservabilityMiddleware:
    """Pure ASGI: request count and duration by route, requests in flight, the access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, usage: UsageSink | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.usage = usage  # the accounts' usage recorder: one event per request
        self._leaves: list[Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        token = request_state_var.set(state)
        status = 0
        gone = False  # the client left before the response started

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def receive_watch() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not status:
                gone = state["client_gone"] = True
            return message

        metrics = self.metrics
        http = metrics.http
        http.in_flight += 1
        try:
            await self.app(scope, receive_watch, send_status)
        except asyncio.CancelledError:
            status = status or CLIENT_CLOSED
            raise
        finally:
            request_state_var.reset(token)
            elapsed = time.perf_counter() - started
            status = CLIENT_CLOSED if gone else status or 500
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
            if self.usage is not None:
                self.usage(scope, state, route, status, elapsed)


def _log_access(
    scope: Scope, state: dict[str, Any], route: str, status: int, elapsed: float
) -> None:
    key = state.get("api_key")
    path = scope["path"][:_MAX_PATH]
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
        f"{fields['request_id']} {fields['method']} {quote_field(path)} {status} "
        f"{fields['duration_ms']:.1f}ms key={fields['key_id']}"
    )
    if "generated_tokens" in state:
        fields["model"] = state.get("model", "")[:_MAX_PATH]
        fields["prompt_tokens"] = state.get("prompt_tokens", 0)
        fields["generated_tokens"] = state["generated_tokens"]
        text += (
            f" model={quote_field(fields['model'])} prompt_tokens={fields['prompt_tokens']}"
            f" generated_tokens={fields['generated_tokens']}"
        )
    access_log.info(text, extra={"fields": fields})
