"""The fleet as one backend: routing, per-upstream limits, health and failover.

A generation goes to a routable upstream that serves its model (:mod:`.strategies` picks,
:mod:`.admission` holds the upstream's slot or queues the request when all are full). If it fails
before its first chunk (refused, reset, a 502/503/504, no first token in time, the model gone
from that upstream) it is retried on another upstream, at most ``failover_attempts`` times, then
on the model's opt-in ``fallback_models``; once a chunk has been handed on, a failure ends the
stream as before (the API writes it in-band). Replies carry the name the client asked for.

Model management (the merged lists, pull, delete, copy) is in :mod:`.management`; the background
health checks and discovery in :mod:`.poller`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import AsyncGenerator, Callable, Set
from typing import TYPE_CHECKING, Any

from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.ollama.backend import OllamaBackend
from ollama_gateway.backends.openai_compat.backend import OpenAIBackend
from ollama_gateway.backends.router.admission import Admission
from ollama_gateway.backends.router.health import classify
from ollama_gateway.backends.router.management import FleetModels
from ollama_gateway.backends.router.poller import Poller
from ollama_gateway.backends.router.registry import Registry, Resolver
from ollama_gateway.backends.router.strategies import make_strategy, session_key
from ollama_gateway.backends.router.upstream import Upstream, model_key
from ollama_gateway.core.scheduler import Scheduler
from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    ModelInfo,
    RunningModel,
)
from ollama_gateway.errors import (
    GatewayError,
    ModelNotFound,
    QueueTimeout,
    ServerBusy,
    UpstreamBadResponse,
    UpstreamUnavailable,
)
from ollama_gateway.observability.upstreams import UpstreamMetrics
from ollama_gateway.settings import Settings, UpstreamSettings

if TYPE_CHECKING:
    from ollama_gateway.observability.metrics import Metrics

log = logging.getLogger(__name__)
NOTHING_TRIED: frozenset[str] = frozenset()
EmbeddedFactory = Callable[[Settings], Backend]


class RouterBackend:
    """Every upstream of the fleet behind the one :class:`Backend` interface."""

    name = "fleet"
    splits_thinking = True
    targets_upstreams = True  # pull, delete and copy take ``upstream=NAME``

    def __init__(
        self,
        settings: Settings,
        *,
        embedded: EmbeddedFactory | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self._embedded = embedded
        self.registry = Registry(settings, self._build, resolver)
        self.admission = Admission(settings.max_queue, settings.queue_timeout)
        self.strategy = make_strategy(settings.routing, settings.session_affinity)
        self.poller = Poller(
            self.registry,
            settings.health_interval,
            settings.discovery_interval,
            self.admission.dispatch,
        )
        self.models = FleetModels(self.registry, self.poller)
        self.metrics: UpstreamMetrics | None = None
        self._gateway_metrics: Metrics | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def _build(self, config: UpstreamSettings, address: str | None) -> Backend:
        headers = config.header_values()
        if config.type == "ollama":
            return OllamaBackend(self.settings, url=config.url, headers=headers, address=address)
        if config.type == "openai":
            return OpenAIBackend(self.settings, config.url, headers=headers, address=address)
        if self._embedded is None:
            raise GatewayError("the embedded engine is not available in this fleet")
        own = self.settings
        if config.models:
            own = own.model_copy(update={"model": config.models[0]})
        backend = self._embedded(own)
        bind = getattr(backend, "bind_metrics", None)
        if bind is not None and self._gateway_metrics is not None:
            bind(self._gateway_metrics)
        return backend

    def bind_metrics(self, metrics: Metrics) -> None:
        self._gateway_metrics = metrics
        instruments = self.metrics = UpstreamMetrics(metrics.registry)
        metrics.on_scrape(lambda _: instruments.publish(self.registry.upstreams))

    def scheduler(self) -> Scheduler:
        """The service's scheduler: admission is per upstream here, so it never holds back."""
        s = self.settings
        return Scheduler(sys.maxsize, s.max_queue, s.queue_timeout)

    async def start(self) -> None:
        await self.registry.populate()
        await self.poller.start()

    async def close(self) -> None:
        await self.poller.close()
        await self.registry.close()

    # -- routing ----------------------------------------------------------------------------
    def _routable(self, serving: list[Upstream], tried: Set[str]) -> list[Upstream]:
        if tried:
            return [u for u in serving if u.routable and u.name not in tried]
        return [u for u in serving if u.routable]

    def _choose(self, key: str, session: int | None, tried: Set[str]) -> Upstream | None:
        """The hot path of routing: a slot of the upstream picked now, or None (all full, or
        none routable). Everything it reads is in memory; nothing waits."""
        chosen = self.strategy.pick(self._routable(self.registry.serving(key), tried), key, session)
        if chosen is not None:
            chosen.in_flight += 1
        return chosen

    async def _acquire(
        self, model: str, key: str, session: int | None, tried: Set[str]
    ) -> Upstream:
        """A slot of the upstream to try next (queued while all are full)."""
        chosen = self._choose(key, session, tried)
        if chosen is not None:
            return chosen
        serving = self.registry.serving(key)
        if not serving:
            await self.models.refresh()  # pulled on an upstream since the last discovery?
            serving = self.registry.serving(key)
            if not serving:
                fresh = self._routable(self.registry.undiscovered(), tried)
                if not fresh:
                    raise ModelNotFound(model)
                return Admission.take(min(fresh, key=lambda u: u.in_flight / u.weight))
        if not self._routable(serving, tried):
            raise UpstreamUnavailable(
                f'no upstream can serve "{model}" now', retry_after=self.settings.health_interval
            )

        def choose() -> Upstream | BaseException | None:
            left = self._routable(self.registry.serving(key), tried)
            if not left:
                return UpstreamUnavailable(f'no upstream can serve "{model}" now', retry_after=1)
            return self.strategy.pick(left, key, session)

        try:
            return await self.admission.wait(choose, key)
        except ServerBusy as exc:
            if self._gateway_metrics is not None:
                timed_out = isinstance(exc, QueueTimeout)
                self._gateway_metrics.rejected("queue_timeout" if timed_out else "queue_full")
            raise

    def _failed(self, upstream: Upstream, exc: BaseException) -> tuple[str, bool]:
        """Record a failure; ``(status, retry elsewhere)``."""
        status, health, retry = classify(exc)
        if health is not None and upstream.breaker.failure(health, str(exc)):
            _log_ejected(upstream, exc)
        if status == "not_found" and upstream.names is not None:
            upstream.names = {k: n for k, n in upstream.names.items() if n != exc_model(exc)}
            self.registry.invalidate()
        if self.metrics is not None:
            self.metrics.answered(upstream.name, status)
        return status, retry

    # -- generation -------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    def chat(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    async def _generation(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        """The stream, once begun: the client's model name on every chunk; a failure from here
        on is the stream's (recorded against the upstream, then raised)."""
        upstream, source, chunk, model = await self._begin(request)
        try:
            while True:
                if chunk.model != model:
                    chunk.model = model
                    chunk.raw = None  # the upstream's lines name its own model
                if chunk.done:
                    if self.metrics is not None:  # before the last chunk: the client may leave
                        self.metrics.answered(upstream.name, "ok")
                    yield chunk
                    return
                yield chunk
                try:
                    chunk = await source.__anext__()
                except StopAsyncIteration:
                    return
        except GatewayError as exc:
            self._failed(upstream, exc)
            raise
        finally:
            await self._give_up(upstream, source)

    async def _begin(
        self, request: GenerationRequest
    ) -> tuple[Upstream, AsyncGenerator[Chunk, None], Chunk, str]:
        """An upstream's stream and its first chunk, trying others (and fallback models) while
        attempts fail before it: ``(upstream, stream, first chunk, model)``."""
        settings = self.settings
        session = (
            session_key(request, settings.affinity_prefix_chars)
            if settings.session_affinity
            else None
        )
        last: BaseException | None = None
        for model in (request.model, *settings.fallback_models.get(request.model, ())):
            key = model_key(model)
            tried: set[str] = set()
            for _ in range(1 + settings.failover_attempts):
                try:
                    upstream = await self._acquire(model, key, session, tried)
                except (ModelNotFound, UpstreamUnavailable) as exc:
                    last = last or exc  # an upstream's own failure says more
                    break
                tried.add(upstream.name)
                own = upstream.own_name(key) or upstream.aliases.get(key, model)
                # always streamed from the upstream: the first-token timeout then bounds the
                # wait for any reply (a whole one is joined by the service, as it was asked)
                attempt = dataclasses.replace(request, model=own, stream=True)
                backend = upstream.backend
                source = (
                    backend.generate(attempt)
                    if request.kind == "generate"
                    else backend.chat(attempt)
                )
                picked = time.perf_counter()
                try:
                    first = await _first(source)
                except GatewayError as exc:
                    await self._give_up(upstream, source)
                    if not self._failed(upstream, exc)[1]:
                        raise
                    last = exc
                    if self.metrics is not None:
                        self.metrics.failover(upstream.name)
                    continue
                except BaseException:
                    await self._give_up(upstream, source)
                    raise
                self._started(upstream, key, time.perf_counter() - picked)
                return upstream, source, first, model
        raise last or UpstreamUnavailable(f'no upstream can serve "{request.model}" now')

    def _started(self, upstream: Upstream, key: str, seconds: float) -> None:
        if upstream.breaker.success():
            _log_rejoined(upstream)
        upstream.warm.add(key)  # it has the model loaded now
        if self.metrics is not None:
            self.metrics.first_chunk(upstream.name, seconds)

    async def _give_up(self, upstream: Upstream, source: Any) -> None:
        self.admission.release(upstream)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()

    # -- embeddings -------------------------------------------------------------------------
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        key = model_key(request.model)
        tried: set[str] = set()
        last: BaseException | None = None
        for _ in range(1 + self.settings.failover_attempts):
            try:
                upstream = await self._acquire(request.model, key, None, tried)
            except UpstreamUnavailable as exc:
                last = last or exc
                break
            tried.add(upstream.name)
            own = upstream.own_name(key) or upstream.aliases.get(key, request.model)
            try:
                result = await upstream.backend.embed(dataclasses.replace(request, model=own))
            except GatewayError as exc:
                _, retry = self._failed(upstream, exc)
                if not retry:
                    raise
                last = exc
                continue
            finally:
                self.admission.release(upstream)
            if self.metrics is not None:
                self.metrics.answered(upstream.name, "ok")
            result.model = request.model
            return result
        raise last or UpstreamUnavailable(f'no upstream can serve "{request.model}" now')

    # -- models, health ---------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        return await self.models.list_models()

    async def running(self) -> list[RunningModel]:
        return await self.models.running()

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        return await self.models.show(model, verbose)

    def pull(
        self, model: str, insecure: bool = False, upstream: str | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        return self.models.pull(model, insecure, upstream)

    async def delete(self, model: str, upstream: str | None = None) -> None:
        await self.models.delete(model, upstream)

    async def copy(self, source: str, destination: str, upstream: str | None = None) -> None:
        await self.models.copy(source, destination, upstream)

    async def check_ready(self) -> tuple[bool, str]:
        upstreams = self.registry.upstreams
        if any(u.routable for u in upstreams):
            return True, ""
        # states only: /ready is public, the errors (with addresses) are in the log
        states = ", ".join(f"{u.name}: {u.breaker.state.name.lower()}" for u in upstreams)
        return False, f"no upstream is healthy ({states or 'none configured'})"

    def upstream_states(self) -> list[dict[str, Any]]:
        """Each upstream's state, for ``/ready``."""
        return [u.state() for u in self.registry.upstreams]


async def _first(source: AsyncGenerator[Chunk, None]) -> Chunk:
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        raise UpstreamBadResponse("the upstream produced no output") from None


def exc_model(exc: BaseException) -> str:
    return getattr(exc, "model", "")


def _log_ejected(upstream: Upstream, exc: BaseException) -> None:
    log.warning("upstream %s ejected: %s", upstream.name, exc)


def _log_rejoined(upstream: Upstream) -> None:
    log.info("upstream %s rejoined", upstream.name)
