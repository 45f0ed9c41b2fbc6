"""The fleet's upstreams: built from the settings, expanded from DNS, looked up by model.

Without configured upstreams the fleet is one Ollama upstream at ``ollama_url``. An upstream
with ``dns: true`` is a host name (a Kubernetes headless Service) that becomes one upstream per
address it resolves to, named ``NAME@ADDRESS``; :meth:`Registry.resolve` is called again at
every discovery round, so scaling the StatefulSet or Deployment behind it adds and removes
upstreams without a restart. An address that left the answer is drained (no new requests) and
closed once its requests have finished. A failed resolution keeps the addresses known so far.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.router.upstream import Upstream
from ollama_gateway.settings import Settings, UpstreamSettings

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
Builder = Callable[[UpstreamSettings, "str | None"], Backend]
MAX_CACHED_MODELS = 1024
MAX_ADDRESSES = 256  # per DNS name


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), sorted."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def fleet_configs(settings: Settings) -> list[UpstreamSettings]:
    """The configured upstreams, or one Ollama upstream at ``ollama_url``."""
    if settings.upstreams:
        return list(settings.upstreams)
    return [UpstreamSettings(name="ollama", type="ollama", url=settings.ollama_url)]


class Registry:
    def __init__(self, settings: Settings, build: Builder, resolver: Resolver | None) -> None:
        self.settings = settings
        self._build = build
        self._resolver = resolver or resolve_host
        self.configs = fleet_configs(settings)
        self.upstreams: list[Upstream] = []
        self.by_name: dict[str, Upstream] = {}
        self.version = 0
        self._serving: dict[str, tuple[int, list[Upstream]]] = {}

    # -- building ---------------------------------------------------------------------------
    async def populate(self) -> None:
        for config in self.configs:
            if config.dns:
                await self.resolve(config)
            else:
                await self.add(config, config.name, None)

    async def add(self, config: UpstreamSettings, name: str, address: str | None) -> Upstream:
        backend = self._build(config, address)
        await backend.start()
        upstream = Upstream(
            name,
            config,
            backend,
            max_in_flight=config.max_in_flight or self.settings.parallel,
            breaker_failures=self.settings.breaker_failures,
            aliases=self.settings.aliases,
            address=address,
        )
        self.upstreams.append(upstream)
        self.by_name[name] = upstream
        self.invalidate()
        return upstream

    async def resolve(self, config: UpstreamSettings) -> list[Upstream]:
        """Re-resolve a DNS upstream; returns the upstreams it added."""
        host, port = _host_port(config.url)
        try:
            addresses = (await self._resolver(host, port))[:MAX_ADDRESSES]
        except (OSError, UnicodeError) as exc:
            log.warning(
                "upstream %s: cannot resolve %s (%s); keeping its addresses", config.name, host, exc
            )
            return []
        known = {u.address: u for u in self.upstreams if u.group == config.name and not u.removed}
        added = []
        for address in addresses:
            if address not in known:
                added.append(await self.add(config, f"{config.name}@{address}", address))
                log.info("upstream %s@%s joined (DNS)", config.name, address)
        for held, upstream in known.items():
            if held not in addresses:
                upstream.removed = True
                self.invalidate()
                log.info("upstream %s left the DNS answer; draining", upstream.name)
        return added

    async def close_drained(self) -> None:
        """Close upstreams that left DNS once their last request finished."""
        for upstream in [u for u in self.upstreams if u.removed and u.in_flight == 0]:
            self.upstreams.remove(upstream)
            self.by_name.pop(upstream.name, None)
            await upstream.backend.close()
            self.invalidate()

    async def close(self) -> None:
        for upstream in self.upstreams:
            await upstream.backend.close()
        self.upstreams.clear()
        self.by_name.clear()

    # -- lookups ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Models or membership changed: cached lookups are stale."""
        self.version += 1

    def serving(self, model_key: str) -> list[Upstream]:
        """Every upstream (routable or not) whose models include ``model_key``."""
        cached = self._serving.get(model_key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        found = [u for u in self.upstreams if u.own_name(model_key) is not None]
        if found:
            if len(self._serving) >= MAX_CACHED_MODELS:
                self._serving.clear()  # names come from clients: the cache stays bounded
            self._serving[model_key] = (self.version, found)
        return found

    def undiscovered(self) -> list[Upstream]:
        """Routable upstreams whose models are not known yet."""
        return [u for u in self.upstreams if u.names is None and u.routable]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", parts.port or default
