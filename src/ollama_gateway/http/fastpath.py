"""A shortcut past FastAPI's per-request machinery for the hottest routes.

FastAPI resolves dependencies, wraps every endpoint in exception and exit-stack middleware and
matches routes by regular expression on each request. For an endpoint whose only parameters are
the :class:`~starlette.requests.Request` and app-state dependencies (``SettingsDep``,
``BackendDep``, ``ServiceDep`` from :mod:`ollama_gateway.http.deps`), all of that can be done once:
:class:`FastPath` finds such routes when the app starts, and for a request to one of them
(exact method and path) calls the endpoint directly and sends its response. Errors go through the
same exception handlers the app registered, so replies are identical. Any other route, or an
endpoint with other parameters (query, body models, other dependencies), takes the normal path.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request

from ollama_gateway.errors import GatewayError
from ollama_gateway.http import deps

log = logging.getLogger(__name__)

_STATE = {deps.get_settings: "settings", deps.get_backend: "backend", deps.get_service: "service"}


def fastapi_options() -> dict[str, Any]:
    """Constructor options that keep FastAPI's own per-request work down.

    FastAPI >= 0.13x checks on every request whether OpenTelemetry is configured (an environment
    lookup and provider checks: ~8% of the gateway's CPU per request under load). We export
    Prometheus metrics ourselves, so its native telemetry is turned off where it exists.
    """
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute of a router, looking into included routers (un-prefixed ones only)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
            continue
        inner = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if inner is not None and not getattr(context, "prefix", "") and not _has_deps(context):
            found.extend(_api_routes(inner.routes))
    return found


def _has_deps(context: Any) -> bool:
    return bool(getattr(context, "dependencies", None))


def _plan(route: APIRoute) -> list[tuple[str, str | None]] | None:
    """[(parameter, app.state attribute or None for the request)], or None: not eligible."""
    dependant = route.dependant
    if (
        route.dependencies
        or route.response_model is not None  # FastAPI serialises the endpoint's return value
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
    ):
        return None
    plan: list[tuple[str, str | None]] = []
    if dependant.request_param_name:
        plan.append((dependant.request_param_name, None))
    for sub in dependant.dependencies:
        attribute = _STATE.get(sub.call)  # type: ignore[arg-type]
        if attribute is None or sub.name is None or sub.dependencies:
            return None
        plan.append((sub.name, attribute))
    return plan


class FastPath:
    """ASGI middleware (innermost): eligible routes skip FastAPI's routing and dependencies."""

    def __init__(self, app: Callable[..., Awaitable[None]], fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.table: dict[tuple[str, str], tuple[APIRoute, list[tuple[str, str | None]]]] | None
        self.table = None

    def _build(self) -> dict:
        table = {}
        for route in _api_routes(self.fastapi.router.routes):
            plan = _plan(route)
            if plan is None or "{" in route.path:
                continue
            for method in route.methods or ():
                table.setdefault((method, route.path), (route, plan))
        log.debug("fast path for %s", sorted(table))
        return table

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        table = self.table
        if table is None:
            table = self.table = self._build()
        hit = table.get((scope["method"], scope["path"]))
        if hit is None:
            await self.app(scope, receive, send)
            return
        route, plan = hit
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        request = Request(scope, receive, send)
        state = self.fastapi.state
        kwargs = {name: request if attr is None else getattr(state, attr) for name, attr in plan}
        try:
            response = await route.endpoint(**kwargs)
        except GatewayError as exc:
            handler = self.fastapi.exception_handlers[GatewayError]
            response = await handler(request, exc)
        await response(scope, receive, send)
