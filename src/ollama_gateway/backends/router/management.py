"""Models across the fleet: merged lists, and pull, delete and copy on one or every upstream.

- ``list_models`` (``/api/tags``, ``/v1/models``): every model of the routable upstreams, once,
  under its own name and under each alias that leads to it.
- ``running`` (``/api/ps``): asked of every routable upstream now; each entry names its upstream
  (``upstream``, a field clients ignore) and carries the client-facing name.
- ``pull``: to the upstream named, or to every routable Ollama upstream at once; progress is
  merged (a layer's ``total`` and ``completed`` summed over the upstreams pulling it), one
  ``success`` ends it when every upstream succeeded, else the failures end it as an error.
- ``delete`` and ``copy``: on the upstream named, or on every routable Ollama (or embedded)
  upstream that has the model.

What an OpenAI-compatible upstream cannot do (pull, delete, copy) answers 400 when it is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from ollama_gateway.backends.router.poller import Poller
from ollama_gateway.backends.router.registry import Registry
from ollama_gateway.backends.router.upstream import Upstream, model_key
from ollama_gateway.core.types import ModelInfo, RunningModel
from ollama_gateway.errors import (
    BadRequest,
    GatewayError,
    ModelNotFound,
    Unsupported,
    UpstreamUnavailable,
)

MANAGED = ("ollama", "embedded")  # the kinds that store models
LIST_TIMEOUT = 3.0
REFRESH_EVERY = 1.0  # seconds: unknown model names cannot make discovery run continuously


class FleetModels:
    def __init__(self, registry: Registry, poller: Poller) -> None:
        self.registry = registry
        self.poller = poller
        self._refreshed_at = -float("inf")

    async def refresh(self) -> None:
        """Discovery now (at most once a second), waiting at most a few seconds for it."""
        if time.monotonic() - self._refreshed_at < REFRESH_EVERY:
            return
        self._refreshed_at = time.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.poller.refresh_soon()), LIST_TIMEOUT)

    # -- lists ------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        upstreams = [u for u in self.registry.upstreams if u.routable]
        if any(u.names is None for u in upstreams):
            await self.refresh()
        out: dict[str, ModelInfo] = {}
        answers = await asyncio.gather(*(_listed(u) for u in upstreams))
        for upstream, models in zip(upstreams, answers, strict=True):
            listed = {m.name: m for m in models}
            for client, own in upstream.client_names().items():
                if client not in out and own in listed:
                    found = listed[own]
                    out[client] = ModelInfo(
                        client, found.size, found.digest, found.modified_at, found.details
                    )
        return list(out.values())

    async def running(self) -> list[RunningModel]:
        upstreams = [u for u in self.registry.upstreams if u.routable]
        answers = await asyncio.gather(
            *(asyncio.wait_for(u.backend.running(), LIST_TIMEOUT) for u in upstreams),
            return_exceptions=True,
        )
        out = []
        for upstream, answer in zip(upstreams, answers, strict=True):
            if isinstance(answer, BaseException):
                continue  # an upstream that does not answer has nothing loaded we can use
            upstream.set_warm(m.name for m in answer)
            shown = {own: client for client, own in upstream.client_names().items()}
            for model in answer:
                model.name = shown.get(model.name, model.name)
                model.upstream = upstream.name
                out.append(model)
        return out

    async def show(self, model: str, verbose: bool) -> dict[str, Any]:
        key = model_key(model)
        candidates = [u for u in self.registry.serving(key) if u.routable]
        if not candidates:
            await self.refresh()
            candidates = [u for u in self.registry.serving(key) if u.routable]
        candidates.sort(key=lambda u: u.kind != "ollama")  # Ollama knows the most about it
        last: GatewayError = ModelNotFound(model)
        for upstream in candidates:
            try:
                return await upstream.backend.show(upstream.own_name(key) or model, verbose)
            except (UpstreamUnavailable, ModelNotFound) as exc:
                last = exc
        raise last

    # -- management -------------------------------------------------------------------------
    def _named(self, name: str) -> Upstream:
        found = self.registry.by_name.get(name)
        if found is None:
            raise BadRequest(f'no upstream named "{name}"')
        return found

    def _holding(self, model: str, upstream: str | None) -> list[Upstream]:
        if upstream is not None:
            return [self._named(upstream)]
        key = model_key(model)
        found = [u for u in self.registry.serving(key) if u.routable and u.kind in MANAGED]
        if not found:
            raise ModelNotFound(model)
        return found

    async def delete(self, model: str, upstream: str | None) -> None:
        targets = self._holding(model, upstream)
        key = model_key(model)
        await self._everywhere(targets, lambda u: u.backend.delete(u.own_name(key) or model))

    async def copy(self, source: str, destination: str, upstream: str | None) -> None:
        targets = self._holding(source, upstream)
        key = model_key(source)
        await self._everywhere(
            targets, lambda u: u.backend.copy(u.own_name(key) or source, destination)
        )

    async def _everywhere(self, targets: list[Upstream], work) -> None:
        results = await asyncio.gather(*(work(u) for u in targets), return_exceptions=True)
        await asyncio.gather(*(self.poller.discover(u) for u in targets))
        failed = [(u, r) for u, r in zip(targets, results, strict=True) if isinstance(r, Exception)]
        if not failed:
            return
        if len(failed) == len(targets) and isinstance(failed[0][1], GatewayError):
            raise failed[0][1]
        raise GatewayError(_failures(failed))

    async def pull(
        self, model: str, insecure: bool, upstream: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        if upstream is not None:
            targets = [self._named(upstream)]
        else:
            targets = [u for u in self.registry.upstreams if u.routable and u.kind == "ollama"]
            if not targets:
                raise Unsupported("no Ollama upstream to pull to: name an upstream")
        queue: asyncio.Queue[tuple[Upstream, dict[str, Any] | BaseException | None]]
        queue = asyncio.Queue()
        tasks = [asyncio.ensure_future(_pull_into(queue, u, model, insecure)) for u in targets]
        try:
            merged = _Progress()
            failed: list[tuple[Upstream, BaseException]] = []
            left = len(targets)
            while left:
                target, item = await queue.get()
                if item is None or isinstance(item, BaseException):
                    left -= 1
                    if item is not None:
                        failed.append((target, item))
                    elif len(targets) > 1:
                        yield {"status": "pulled", "upstream": target.name}
                    continue
                event = merged.event(target, item) if len(targets) > 1 else item
                if event is not None:
                    yield event
            await asyncio.gather(*(self.poller.discover(u) for u in targets))
            if failed:
                if len(failed) == len(targets) and isinstance(failed[0][1], GatewayError):
                    raise failed[0][1]
                raise GatewayError(_failures(failed))
            if len(targets) > 1:
                yield {"status": "success"}
        finally:
            for task in tasks:
                task.cancel()


async def _pull_into(queue: asyncio.Queue, upstream: Upstream, model: str, insecure: bool) -> None:
    try:
        async for event in upstream.backend.pull(model, insecure=insecure):
            await queue.put((upstream, event))
    except Exception as exc:
        await queue.put((upstream, exc))
        return
    await queue.put((upstream, None))


class _Progress:
    """Pull progress summed per layer over the upstreams; other events name their upstream."""

    def __init__(self) -> None:
        self.layers: dict[str, dict[str, tuple[int, int]]] = {}

    def event(self, upstream: Upstream, event: dict[str, Any]) -> dict[str, Any] | None:
        digest = event.get("digest")
        if event.get("status") == "success":
            return None  # one success at the end, for all of them
        if not isinstance(digest, str) or not digest:
            return {**event, "upstream": upstream.name}
        layer = self.layers.setdefault(digest, {})
        layer[upstream.name] = (_int(event.get("total")), _int(event.get("completed")))
        return {
            "status": event.get("status", f"pulling {digest[7:19]}"),
            "digest": digest,
            "total": sum(t for t, _ in layer.values()),
            "completed": sum(c for _, c in layer.values()),
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _failures(failed: Sequence[tuple[Upstream, BaseException]]) -> str:
    return "; ".join(f"{u.name}: {getattr(e, 'message', None) or e}" for u, e in failed)


async def _listed(upstream: Upstream) -> list[ModelInfo]:
    """The upstream's models with their details (asked again: sizes and digests change)."""
    try:
        return await asyncio.wait_for(upstream.backend.list_models(), LIST_TIMEOUT)
    except (GatewayError, asyncio.TimeoutError):
        names = (upstream.names or {}).values()
        return [ModelInfo(name) for name in names]
