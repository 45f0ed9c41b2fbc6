"""One upstream as the router sees it: its backend, load, health and the models it serves.

Model names are compared by :func:`model_key` (``llama2`` and ``llama2:latest`` are one model, as
in Ollama) and sent upstream under the upstream's own spelling. A client-facing name reaches an
upstream's own name through the upstream's ``aliases``, then the fleet's, then as itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.router.health import Breaker
from ollama_gateway.core.names import full_name
from ollama_gateway.settings import UpstreamSettings

model_key = full_name


def stable_hash(data: bytes) -> int:
    """A 64-bit hash that is the same in every process (workers agree on sessions)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class Upstream:
    """A routable upstream. ``names`` maps model keys to the upstream's own names (None until
    discovery answered once); ``warm`` holds the keys of the models loaded now."""

    __slots__ = (
        "address",
        "alias_names",
        "aliases",
        "backend",
        "breaker",
        "config",
        "group",
        "hash",
        "in_flight",
        "kind",
        "max_in_flight",
        "name",
        "names",
        "removed",
        "warm",
        "weight",
    )

    def __init__(
        self,
        name: str,
        config: UpstreamSettings,
        backend: Backend,
        *,
        max_in_flight: int,
        breaker_failures: int,
        aliases: dict[str, str],
        address: str | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.kind = config.type
        self.backend = backend
        self.weight = config.weight
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.breaker = Breaker(breaker_failures)
        self.group = config.name  # the configured name (a DNS name's addresses share it)
        self.hash = stable_hash(name.encode())  # for rendezvous hashing (sessions)
        self.address = address
        self.removed = False  # the address left the DNS answer: drained, then closed
        # client-facing key -> own name: this upstream's aliases win over the fleet's
        merged = {model_key(k): v for k, v in aliases.items()}
        merged.update({model_key(k): v for k, v in config.aliases.items()})
        self.aliases = merged
        shown = {model_key(k): k for k in aliases}
        shown.update({model_key(k): k for k in config.aliases})
        self.alias_names = shown  # as configured, for lists
        self.names: dict[str, str] | None = None
        self.warm: set[str] = set()

    # -- state ------------------------------------------------------------------------------
    @property
    def routable(self) -> bool:
        return self.breaker.routable and not self.removed

    @property
    def full(self) -> bool:
        return self.in_flight >= self.max_in_flight

    def set_models(self, own_names: Iterable[str]) -> None:
        """What discovery found (restricted to the configured ``models`` when given)."""
        allowed = {model_key(m) for m in self.config.models}
        found = {model_key(n): n for n in own_names}
        if allowed:
            found = {k: n for k, n in found.items() if k in allowed}
        self.names = found

    def assume_configured(self) -> None:
        """Discovery failed before it ever answered: the configured models, if any."""
        if self.names is None and self.config.models:
            self.names = {model_key(m): m for m in self.config.models}

    def set_warm(self, own_names: Iterable[str]) -> None:
        self.warm = {model_key(n) for n in own_names}

    # -- names ------------------------------------------------------------------------------
    def own_name(self, key: str) -> str | None:
        """The name this upstream serves the client's model ``key`` under, or None."""
        names = self.names
        if names is None:
            return None
        target = self.aliases.get(key)
        if target is not None:
            own = names.get(model_key(target))
            if own is not None:
                return own
        return names.get(key)

    def client_names(self) -> dict[str, str]:
        """``{client-facing name: own name}`` for every model this upstream serves."""
        names = self.names or {}
        out = {own: own for own in names.values()}
        for alias, target in self.aliases.items():
            own = names.get(model_key(target))
            if own is not None:
                out[self.alias_names[alias]] = own
        return out

    def state(self) -> dict[str, Any]:
        """This upstream for ``/ready`` (no URL or credential: the probe is public)."""
        return {
            "name": self.name,
            "type": self.kind,
            "state": self.breaker.state.name.lower(),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "models": len(self.names) if self.names is not None else None,
        }
