"""The application factory: ``create_app(settings)`` owns every resource through its lifespan."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from ollama_gateway import __version__
from ollama_gateway.accounts.policy import public_message
from ollama_gateway.accounts.service import Accounts
from ollama_gateway.api import admin, docs, health, ollama, openai, status
from ollama_gateway.api import openapi as openapi_schema
from ollama_gateway.api.bodies import describe_validation_errors, request_id
from ollama_gateway.api.errors import error_body, error_responses, family_of
from ollama_gateway.api.health import Readiness
from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.factory import build_backend
from ollama_gateway.console import CONSOLE_PATH, mount_console
from ollama_gateway.core.hosts import is_loopback
from ollama_gateway.core.service import GenerationService
from ollama_gateway.errors import GatewayError
from ollama_gateway.http.access import ObservabilityMiddleware
from ollama_gateway.http.auth import KeyRing
from ollama_gateway.http.middleware import PUBLIC, GatewayMiddleware
from ollama_gateway.http.ratelimit import RATE_LIMIT_HEADERS
from ollama_gateway.http.shutdown import ShutdownNotice, on_stop_signals
from ollama_gateway.observability.metrics import Metrics, scheduler_slots
from ollama_gateway.settings import Settings

log = logging.getLogger(__name__)


class InsecureConfiguration(RuntimeError):
    """The settings would expose an unauthenticated API; the message says the ways out."""


def check_startup(settings: Settings, keyring: KeyRing, stored_keys: bool | None = None) -> None:
    """Refuse settings that would expose an open API.

    ``stored_keys``: whether the database holds keys (None: not known yet; then a configured
    ``--database-url`` is given the benefit of the doubt until the lifespan has read it).
    """
    if stored_keys is None:
        stored_keys = settings.database_url is not None
    if (
        not keyring.enabled
        and not stored_keys
        and not settings.insecure_no_auth
        and not is_loopback(settings.host)
    ):
        raise InsecureConfiguration(
            f"refusing to serve on {settings.host} without an API key: anyone who can reach it "
            "could use it. Configure a key (--api-key, OLLAMA_GATEWAY_API_KEYS / API_KEY, or "
            "--keys-file), or pass --insecure-no-auth if this really is what you want."
        )
    if "*" in settings.cors_origins and len(settings.cors_origins) > 1:
        raise InsecureConfiguration("CORS origins: use either '*' alone or a list of origins")


def fastapi_options() -> dict[str, Any]:
    """Constructor options that keep FastAPI's own per-request work down.

    FastAPI >= 0.13x checks on every request whether OpenTelemetry is configured (an environment
    lookup and provider checks: ~8% of the gateway's CPU per request under load). We export
    Prometheus metrics ourselves, so its native telemetry is turned off where it exists.
    """
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def public_paths(settings: Settings) -> tuple[str, ...]:
    """GET paths served without a key, beside the probes and ``HEAD /`` (``http.middleware``).

    ``GET /`` answers Ollama's "Ollama is running" and nothing else: clients detect Ollama with
    it, often before they know a key, and it tells no more than ``HEAD /`` already does.
    """
    paths: tuple[str, ...] = ("/",)
    if settings.metrics_public:
        paths += ("/metrics",)
    if settings.docs_public:
        paths += docs.PUBLIC_WHEN_ASKED
    return paths


def _error_response(
    request: Request, status: int, message: str, headers=None, route: bool = True
) -> Response:
    body = error_body(family_of(request.url.path), status, message, route=route)
    response = Response(body, status_code=status, media_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if exc.status_code >= 500 and exc.status_code not in (502, 503, 504):
        log.error("request %s failed: %s", request_id(request), exc.message)
    message = public_message(exc)  # no internal hosts for non-admin keys
    return _error_response(request, exc.status_code, message, exc.headers())


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _error_response(request, 400, describe_validation_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    route = True
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        message = f"no route {request.method} {request.url.path}"
        route = False
    headers = getattr(exc, "headers", None)
    return _error_response(request, exc.status_code, message, headers, route=route)


def _fatal(app: FastAPI, reason: str) -> None:
    """The service cannot work (its default model cannot load): say why and stop serving.

    ``serve`` sets ``app.state.stop_server``; elsewhere ``/ready`` reports the failure.
    """
    app.state.fatal = reason
    log.error("stopping: %s", reason)
    stop = getattr(app.state, "stop_server", None)
    if stop is not None:
        stop()


def create_app(
    settings: Settings, backend: Backend | None = None, keyring: KeyRing | None = None
) -> FastAPI:
    """Build the gateway. ``backend`` overrides the one the settings would choose (tests);
    ``keyring`` the keys the settings name (``--workers``: digests handed over by the parent)."""
    keyring = keyring if keyring is not None else KeyRing.from_settings(settings)
    check_startup(settings, keyring)
    metrics = Metrics()
    shutdown = ShutdownNotice()
    accounts = Accounts(settings, keyring, metrics)
    app = FastAPI(
        title="ollama-gateway",
        version=__version__,
        lifespan=_lifespan(settings, keyring, accounts, metrics, shutdown, backend),
        redirect_slashes=False,
        openapi_url=None,  # /openapi.json and /docs: api/docs.py (local files, no CDN)
        docs_url=None,
        redoc_url=None,
        **fastapi_options(),
    )
    app.state.settings = settings
    app.state.keyring = keyring
    app.state.accounts = accounts
    app.state.metrics = metrics
    app.state.readiness = Readiness()
    app.state.shutdown = shutdown
    app.state.fatal = None
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    public = _add_routes(app, settings)
    _add_middleware(app, settings, accounts, metrics, public)
    if keyring.enabled is False:
        log.warning(
            "no API key configured: the API is open to anyone who can reach %s", settings.host
        )
    return app


def _lifespan(
    settings: Settings,
    keyring: KeyRing,
    accounts: Accounts,
    metrics: Metrics,
    shutdown: ShutdownNotice,
    backend: Backend | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What the app starts and stops: the accounts, then the backend and the service over it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await accounts.start()  # the database, the key cache, the usage writer (or fail here)
        check_startup(settings, keyring, stored_keys=accounts.cache.enabled)
        chosen = backend or await build_backend(settings)
        if hasattr(chosen, "bind_metrics"):
            chosen.bind_metrics(metrics)
        if hasattr(chosen, "on_fatal"):
            chosen.on_fatal = lambda reason: _fatal(app, reason)
        shutdown.attach(asyncio.get_running_loop())
        await chosen.start()
        app.state.backend = chosen
        own_scheduler = getattr(chosen, "scheduler", None)  # a fleet admits per upstream
        service = app.state.service = GenerationService(
            chosen, settings, own_scheduler() if own_scheduler else None, metrics=metrics
        )
        metrics.on_scrape(lambda m: m.set_slots(scheduler_slots(service.scheduler)))
        try:
            with on_stop_signals(shutdown, settings.shutdown_grace):
                yield
        finally:
            shutdown.detach()
            await chosen.close()
            await accounts.close()

    return lifespan


def _add_routes(app: FastAPI, settings: Settings) -> tuple[str, ...]:
    """Every route, the docs and the console; returns the GET paths served without a key."""
    # The hottest routes first: FastAPI tries them in order on every request.
    for routes in (
        ollama.generate.routes,
        openai.routes,
        ollama.models.routes,
        ollama.create.routes,
        health.routes,
        status.routes,
    ):
        routes.register(app.router)
    app.include_router(admin.router, responses=error_responses("plain", 400, 401, 403, 404, 500))
    docs.install(app)
    public = public_paths(settings)
    openapi_schema.install(app, PUBLIC | {("GET", p) for p in public})
    if settings.console:
        mount_console(app)
    return public


def _add_middleware(
    app: FastAPI,
    settings: Settings,
    accounts: Accounts,
    metrics: Metrics,
    public: tuple[str, ...],
) -> None:
    """The middleware stack, innermost first (docs/architecture.md gives the order)."""
    # Outermost last: CORS must answer preflights before the key check runs.
    app.add_middleware(
        GatewayMiddleware,
        limiter=accounts.gate,
        keyring=accounts.cache,
        max_body_bytes=settings.max_body_bytes,
        max_blob_bytes=settings.max_blob_bytes,
        public_paths=public,
        public_prefixes=(CONSOLE_PATH,) if settings.console else (),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD"],
            allow_headers=["Authorization", "X-API-KEY", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", *RATE_LIMIT_HEADERS],
        )
    # Outermost of all: metrics and the access log see every request, preflights included.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, usage=accounts.record)
