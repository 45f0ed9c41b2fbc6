"""Service info and probes: ``/`` (Ollama's "is it running"), ``/info``, ``/health``, ``/ready``,
``/metrics``.

- ``GET|HEAD /``: the plain text ``Ollama is running``, exactly as Ollama answers it (clients
  compare it to detect an Ollama server). No auth: it tells nothing that ``HEAD /`` did not.
- ``GET /info``: the service's name, version, default model and backend; behind the API key.

- ``GET|HEAD /health``: liveness. The process answers; no auth, no backend call.
- ``GET|HEAD /ready``: readiness. 200 ``{"status": "ready"}`` when the backend can serve the
  default model (embedded: loaded; Ollama: the upstream answers; a fleet: an upstream is
  healthy), otherwise 503 ``{"status": "loading" | "upstream_unavailable" | "failed",
  "reason": ...}`` (``failed``: the default model cannot be loaded; ``serve`` then stops). A
  fleet adds ``upstreams``: each one's name, type, breaker state and load. No auth. The
  backend's answer is cached for :attr:`Readiness.ttl` seconds and concurrent probes share one
  check, so probes cannot hammer Ollama.
- ``GET /metrics``: Prometheus text format; behind the API key unless ``--metrics-public``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import Request
from starlette.responses import PlainTextResponse, Response

from ollama_gateway import __version__
from ollama_gateway.api.bodies import JSONResponse
from ollama_gateway.api.errors import error_responses
from ollama_gateway.api.routes import Routes
from ollama_gateway.backends.base import UPSTREAM_BACKENDS, Backend
from ollama_gateway.errors import GatewayError
from ollama_gateway.http.deps import BackendDep, SettingsDep
from ollama_gateway.observability.metrics import CONTENT_TYPE, Metrics
from ollama_gateway.schemas.service import Health, NotReady, Ready, ServiceInfo

log = logging.getLogger(__name__)
routes = Routes(tags=["Service"])

OLLAMA_IS_RUNNING = "Ollama is running"
_KEYED = error_responses("plain", 401, 429, 500)
_HEAD = {200: {"description": "As GET, without the body"}}


class Readiness:
    """The backend's ``check_ready()``, cached for ``ttl`` seconds; one check at a time."""

    def __init__(self, ttl: float = 1.0, timeout: float = 5.0) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._at = -float("inf")
        self._result: tuple[bool, str, str] = (False, "loading", "starting")

    async def check(self, backend: Backend | None) -> tuple[bool, str, str]:
        """(ready, status, reason); ``status`` is ``ready``, ``loading`` or
        ``upstream_unavailable``."""
        if backend is None:
            return False, "loading", "the backend is starting"
        if time.monotonic() - self._at < self.ttl:
            return self._result
        async with self._lock:
            if time.monotonic() - self._at < self.ttl:  # another probe just checked
                return self._result
            self._result = await self._ask(backend)
            self._at = time.monotonic()
        return self._result

    async def _ask(self, backend: Backend) -> tuple[bool, str, str]:
        not_ready = "upstream_unavailable" if backend.name in UPSTREAM_BACKENDS else "loading"
        try:
            ready, reason = await asyncio.wait_for(backend.check_ready(), self.timeout)
        except asyncio.TimeoutError:
            return False, not_ready, f"the readiness check took over {self.timeout:g}s"
        except GatewayError as exc:
            return False, not_ready, exc.message
        if ready:
            return True, "ready", ""
        return False, not_ready, reason or "not ready"


@routes.get("/", response_class=PlainTextResponse)
@routes.head("/", response_class=Response, responses=_HEAD)
async def root() -> Response:
    """Ollama's "is it running" answer, for clients that detect Ollama by it."""
    return PlainTextResponse(OLLAMA_IS_RUNNING)


@routes.get("/info", responses={200: {"model": ServiceInfo, "description": "OK"}, **_KEYED})
async def info(settings: SettingsDep, backend: BackendDep) -> Response:
    """The service's name, version, default model and backend."""
    return JSONResponse(
        {
            "name": "ollama-gateway",
            "version": __version__,
            "default_model": settings.model_name,
            "backend": backend.name,
        }
    )


@routes.get("/health", responses={200: {"model": Health, "description": "OK"}})
@routes.head("/health", response_class=Response, responses=_HEAD)
async def health() -> Response:
    """Liveness: the process answers. No auth, no backend call."""
    return JSONResponse({"status": "ok"})


_READY = {
    200: {"model": Ready, "description": "The default model can be served"},
    503: {"model": NotReady, "description": "Not yet, or not now: the reason says why"},
}


@routes.get("/ready", responses=_READY)
@routes.head("/ready", response_class=Response, responses=_HEAD)
async def ready(request: Request) -> Response:
    """Readiness: 200 when the default model can be served, else 503 with the reason."""
    state = request.app.state
    fatal = getattr(state, "fatal", None)
    if fatal:
        return JSONResponse({"status": "failed", "reason": fatal}, status_code=503)
    backend: Backend | None = getattr(state, "backend", None)
    readiness: Readiness = state.readiness
    ok, status, reason = await readiness.check(backend)
    body: dict[str, object] = {"status": status, "reason": reason}
    if ok and backend is not None:  # ready implies a backend
        body = {"status": "ready", "backend": backend.name}
    upstreams = getattr(backend, "upstream_states", None)  # a fleet: each upstream's state
    if upstreams is not None:
        body["upstreams"] = upstreams()
    return JSONResponse(body, status_code=200 if ok else 503)


_METRICS = {
    200: {
        "description": "Prometheus text format 0.0.4",
        "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
    }
}


@routes.get("/metrics", response_class=Response, responses={**_METRICS, **_KEYED})
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text format 0.0.4)."""
    state = request.app.state
    instruments: Metrics = state.metrics
    backend: Backend | None = getattr(state, "backend", None)
    if backend is not None:
        await refresh_loaded(instruments, backend)
    return Response(instruments.render(), media_type=CONTENT_TYPE)


async def refresh_loaded(instruments: Metrics, backend: Backend, timeout: float = 2.0) -> None:
    """Set the loaded-model gauges from ``backend.running()`` (what ``/api/ps`` lists)."""
    try:
        running = await asyncio.wait_for(backend.running(), timeout)
    except (GatewayError, asyncio.TimeoutError, NotImplementedError) as exc:
        log.debug("loaded models unknown for /metrics: %s", exc)
        return
    instruments.set_loaded(running)
