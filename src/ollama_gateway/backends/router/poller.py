"""The fleet's background work: active health checks and model discovery.

- Every ``health_interval`` seconds each upstream is probed (Ollama ``GET /api/version``,
  OpenAI-compatible ``GET /v1/models``, the embedded engine's readiness). A probe that answers
  closes the breaker (an ejected upstream rejoins within one interval of coming back); one that
  fails counts as a failure (a refused connection or a timeout ejects at once).
- Every ``discovery_interval`` seconds DNS names are re-resolved and each upstream's models are
  listed (Ollama ``/api/tags`` and ``/api/ps``: what is loaded is *warm*; an OpenAI-compatible
  server's ``/v1/models`` are all loaded). An upstream that rejoins is listed at once.

Each round runs the upstreams concurrently, each bounded by its own timeout; one slow upstream
never delays the others' checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ollama_gateway.backends.router.health import State
from ollama_gateway.backends.router.registry import Registry
from ollama_gateway.backends.router.upstream import Upstream
from ollama_gateway.errors import GatewayError

log = logging.getLogger(__name__)


class Poller:
    def __init__(
        self,
        registry: Registry,
        health_interval: float,
        discovery_interval: float,
        on_change: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.health_interval = health_interval
        self.discovery_interval = discovery_interval
        self.on_change = on_change  # an upstream rejoined or appeared: wake waiting requests
        self.probe_timeout = max(0.5, min(5.0, health_interval))
        self.list_timeout = max(2.0, self.probe_timeout)
        self._tasks: list[asyncio.Task[None]] = []
        self._refreshing: asyncio.Task[None] | None = None
        self.health_rounds = 0  # finished rounds (diagnostics; tests count them)

    async def start(self) -> None:
        """One discovery round (bounded), then the loops in the background."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.discovery_round(), self.list_timeout + 1.0)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.health_interval, self.health_round)),
            loop.create_task(self._every(self.discovery_interval, self.discovery_round)),
        ]

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._refreshing] if self._refreshing else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _every(self, interval: float, work: Callable) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await work()
            except Exception:  # a bug in one round must not stop the checks for good
                log.exception("fleet background round failed")

    # -- health -----------------------------------------------------------------------------
    async def health_round(self) -> None:
        await asyncio.gather(*(self.check(u) for u in list(self.registry.upstreams)))
        self.health_rounds += 1

    async def check(self, upstream: Upstream) -> None:
        breaker = upstream.breaker
        breaker.probing()
        try:
            ready, reason = await asyncio.wait_for(
                upstream.backend.check_ready(), self.probe_timeout
            )
        except asyncio.TimeoutError:
            ready, reason = False, f"the health check took over {self.probe_timeout:g}s"
        except GatewayError as exc:
            ready, reason = False, exc.message
        if ready:
            if breaker.success():
                log.info("upstream %s rejoined", upstream.name)
                await self.discover(upstream)
                self.on_change()
            return
        if upstream.kind == "embedded" and breaker.state is not State.HALF_OPEN:
            return  # in this process: "not ready" is a model loading, not an upstream failing
        if breaker.state is State.HALF_OPEN:
            breaker.failure(True, reason)
        elif breaker.failure(True, reason):
            log.warning("upstream %s ejected: %s", upstream.name, reason)

    # -- discovery --------------------------------------------------------------------------
    async def discovery_round(self) -> None:
        registry = self.registry
        added = []
        for config in registry.configs:
            if config.dns:
                added += await registry.resolve(config)
        await registry.close_drained()
        await asyncio.gather(*(self.discover(u) for u in list(registry.upstreams)))
        if added:
            self.on_change()

    async def discover(self, upstream: Upstream) -> None:
        backend = upstream.backend
        timeout = self.list_timeout
        try:
            models = await asyncio.wait_for(backend.list_models(), timeout)
            names = [m.name for m in models]
            if upstream.kind == "openai":
                warm = names  # an OpenAI-compatible server serves what it has loaded
            else:
                warm = [m.name for m in await asyncio.wait_for(backend.running(), timeout)]
        except (GatewayError, asyncio.TimeoutError, NotImplementedError) as exc:
            upstream.assume_configured()
            log.debug("upstream %s: models not listed (%s)", upstream.name, exc)
            return
        except asyncio.CancelledError:
            upstream.assume_configured()
            raise
        before = upstream.names
        upstream.set_models(names)
        upstream.set_warm(warm)
        if upstream.names != before:
            self.registry.invalidate()
            self.on_change()

    def refresh_soon(self) -> asyncio.Task[None]:
        """A discovery round now (shared by everyone who asks while it runs)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self.discovery_round())
        return self._refreshing
