"""The application factory: ``create_app(settings)`` owns every resource through its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from ollama_gateway import __version__
from ollama_gateway.accounts.policy import public_message
from ollama_gateway.accounts.service import Accounts
from ollama_gateway.api import admin, health, ollama, openai, status
from ollama_gateway.api.bodies import request_id
from ollama_gateway.api.errors import error_body, family_of
from ollama_gateway.api.health import Readiness
from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.factory import build_backend
from ollama_gateway.console import CONSOLE_PATH, mount_console
from ollama_gateway.core.service import GenerationService
from ollama_gateway.errors import GatewayError
from ollama_gateway.http.access import ObservabilityMiddleware
from ollama_gateway.http.auth import KeyRing
from ollama_gateway.http.fastpath import FastPath, fastapi_options
from ollama_gateway.http.middleware import GatewayMiddleware
from ollama_gateway.http.ratelimit import RATE_LIMIT_HEADERS
from ollama_gateway.http.shutdown import ShutdownNotice, on_stop_signals
from ollama_gateway.observability.metrics import Metrics, scheduler_slots
from ollama_gateway.settings import Settings, is_loopback

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


def _error_response(request: Request, status: int, message: str, headers=None) -> Response:
    body = error_body(family_of(request.url.path), status, message)
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
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = (
        f"invalid {where!r}: {first.get('msg', 'invalid value')}" if where else "invalid request"
    )
    return _error_response(request, 400, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return _error_response(request, exc.status_code, message, getattr(exc, "headers", None))


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
        service = app.state.service = GenerationService(chosen, settings, metrics=metrics)
        metrics.on_scrape(lambda m: m.set_slots(scheduler_slots(service.scheduler)))
        try:
            with on_stop_signals(shutdown, settings.shutdown_grace):
                yield
        finally:
            shutdown.detach()
            await chosen.close()
            await accounts.close()

    app = FastAPI(
        title="ollama-gateway",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
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
    app.include_router(health.router)
    app.include_router(ollama.router)
    app.include_router(openai.router)
    app.include_router(admin.router)
    app.include_router(status.router)
    if settings.console:
        mount_console(app)

    # Outermost last: CORS must answer preflights before the key check runs.
    app.add_middleware(FastPath, fastapi=app)  # innermost: hot routes skip FastAPI's machinery
    app.add_middleware(
        GatewayMiddleware,
        limiter=accounts.gate,
        keyring=accounts.cache,
        max_body_bytes=settings.max_body_bytes,
        public_paths=("/metrics",) if settings.metrics_public else (),
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
    if keyring.enabled is False:
        log.warning(
            "no API key configured: the API is open to anyone who can reach %s", settings.host
        )
    return app
