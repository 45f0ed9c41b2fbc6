"""Pulls without SSRF: which registries a pull may reach, checked before anything is fetched.

A model name can name its registry (``host:5000/ns/model``), so ``/api/pull`` could otherwise
make the server (or the Ollama behind it) fetch from any host, internal ones included. Before a
pull starts, :func:`check_pull`:

1. finds the registry host the pull would contact (the name's own host; for a plain name the
   default registry, ``registry_url``);
2. refuses it (403) unless it is in ``pull_registries`` (default: Ollama's registry) or is the
   configured ``registry_url``'s host;
3. resolves it and refuses it (403) when any address is loopback, link-local, private, reserved,
   multicast or unspecified, unless the host is listed in ``pull_allow_private``.

The embedded engine's downloads also go through :class:`GuardedResolver`, so a registry that
redirects a blob to an internal address (or a name that resolves differently a second later) is
refused at connect time too. Only admin keys may pull at all (see :mod:`..accounts.roles`); the
refusals name the host and the setting to change, which is for the admin's eyes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from ollama_gateway.errors import BadRequest, Forbidden
from ollama_gateway.models.refs import DEFAULT_HOST, is_gguf_path, parse_ref
from ollama_gateway.settings import Settings

_RESOLVE_TTL = 60.0
_RESOLVE_TIMEOUT = 5.0
_resolved: dict[str, tuple[float, list[str]]] = {}


def is_internal(address: str) -> bool:
    """Whether an address is one a public registry never has.

    >>> [is_internal(a) for a in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "8.8.8.8")]
    [True, True, True, True, False]
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _host_only(host: str) -> str:
    """``host:5000`` -> ``host``; ``[::1]:5000`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def registry_host(model: str, settings: Settings) -> str:
    ref = parse_ref(model)
    if ref.host.lower() == DEFAULT_HOST:
        return (urlsplit(settings.registry_url).hostname or DEFAULT_HOST).lower()
    return _host_only(ref.host).lower()


def allowed_hosts(settings: Settings) -> set[str]:
    hosts = {_host_only(h).lower() for h in settings.pull_registries}
    configured = urlsplit(settings.registry_url).hostname
    if configured:
        hosts.add(configured.lower())
    return hosts


async def _addresses(host: str) -> list[str]:
    now = time.monotonic()
    cached = _resolved.get(host)
    if cached is not None and cached[0] > now:
        return cached[1]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), _RESOLVE_TIMEOUT
        )
        found = sorted({str(info[4][0]) for info in infos})
    except (OSError, asyncio.TimeoutError):
        found = []  # unresolvable here: the pull itself will fail to connect
    if len(_resolved) > 1024:
        _resolved.clear()
    _resolved[host] = (now + _RESOLVE_TTL, found)
    return found


async def check_pull(model: str, insecure: bool, settings: Settings) -> None:
    """Raise :class:`Forbidden` when pulling ``model`` would reach a registry it must not."""
    if is_gguf_path(model):
        raise BadRequest(f'cannot pull "{model}": it is a file path, not a model name')
    try:
        host = registry_host(model, settings)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if host not in allowed_hosts(settings):
        raise Forbidden(
            f"pulling from registry {host!r} is not allowed (allowed: "
            f"{', '.join(sorted(allowed_hosts(settings)))}; setting pull_registries)"
        )
    if host in {h.lower() for h in settings.pull_allow_private}:
        return
    internal = [a for a in await _addresses(host) if is_internal(a)]
    if internal:
        raise Forbidden(
            f"registry {host!r} resolves to an internal address ({internal[0]}); list it in "
            "pull_allow_private to allow it"
        )


class GuardedResolver:
    """An aiohttp resolver that refuses internal addresses for hosts not explicitly allowed."""

    def __init__(self, allow_private: list[str] | tuple[str, ...] = ()) -> None:
        from aiohttp.resolver import DefaultResolver

        self._inner = DefaultResolver()
        self._allowed = {h.lower() for h in allow_private}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> Any:
        found = await self._inner.resolve(host, port, family)
        if host.lower() not in self._allowed:
            for entry in found:
                if is_internal(entry["host"]):
                    raise OSError(
                        f"refusing to connect to {host}: it resolves to an internal address"
                    )
        return found

    async def close(self) -> None:
        await self._inner.close()
