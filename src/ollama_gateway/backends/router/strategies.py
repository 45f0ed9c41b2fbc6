"""Routing strategies: which of the upstreams that serve a model gets the next request.

Each strategy is handed the routable upstreams serving the model (healthy, not draining) and
returns one that is not full, or None when all are full (the request then waits in the fleet's
queue). They are small and allocation-free: a decision costs a few microseconds.

- :class:`LeastInFlight` (default): warm first (the model is loaded there), then the fewest
  requests in flight relative to weight, ``(in_flight + 1) / weight``; ties rotate.
- :class:`RoundRobin`: the next one in turn (the baseline the benchmark compares with).
- :class:`Affinity`: wraps another strategy; a request carrying a session key goes to the
  upstream ranked first for that key by weighted rendezvous hashing (adding or removing an
  upstream moves only the sessions it gains or loses), unless that upstream is full: then the
  wrapped strategy decides. An ejected upstream is not among the candidates, so its sessions
  move to their second choice and come back when it rejoins.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Protocol

from ollama_gateway.backends.router.upstream import Upstream
from ollama_gateway.core.types import GenerationRequest

_MASK = (1 << 64) - 1


class Strategy(Protocol):
    def pick(
        self, candidates: Sequence[Upstream], model_key: str, session: int | None
    ) -> Upstream | None: ...


class LeastInFlight:
    """Warm first, then least in flight relative to weight."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def pick(
        self, candidates: Sequence[Upstream], model_key: str, session: int | None = None
    ) -> Upstream | None:
        count = len(candidates)
        if count == 1:
            only = candidates[0]
            return None if only.in_flight >= only.max_in_flight else only
        self._turn = turn = (self._turn + 1) % (count or 1)
        best: Upstream | None = None
        best_warm = False
        best_load = math.inf
        for i in range(count):
            upstream = candidates[(turn + i) % count]
            if upstream.in_flight >= upstream.max_in_flight:
                continue
            warm = model_key in upstream.warm
            if best_warm and not warm:
                continue
            load = (upstream.in_flight + 1) / upstream.weight
            if (warm and not best_warm) or load < best_load:
                best, best_warm, best_load = upstream, warm, load
        return best


class RoundRobin:
    """Each in turn, skipping full ones."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def pick(
        self, candidates: Sequence[Upstream], model_key: str, session: int | None = None
    ) -> Upstream | None:
        count = len(candidates)
        for _ in range(count):
            self._turn = (self._turn + 1) % count
            upstream = candidates[self._turn]
            if upstream.in_flight < upstream.max_in_flight:
                return upstream
        return None


class Affinity:
    """Sessions stick to their rendezvous-hash upstream while it is routable and not full."""

    __slots__ = ("fallback",)

    def __init__(self, fallback: Strategy) -> None:
        self.fallback = fallback

    def pick(
        self, candidates: Sequence[Upstream], model_key: str, session: int | None = None
    ) -> Upstream | None:
        if session is not None and candidates:
            owner = rendezvous_owner(session, candidates)
            if owner.in_flight < owner.max_in_flight:
                return owner
        return self.fallback.pick(candidates, model_key, session)


def rendezvous_owner(session: int, candidates: Sequence[Upstream]) -> Upstream:
    """The candidate with the highest (weighted) rendezvous score for ``session``."""
    weight = candidates[0].weight
    weighted = any(u.weight != weight for u in candidates)
    best = candidates[0]
    best_score = -math.inf
    for upstream in candidates:
        mixed = _mix(session ^ upstream.hash)
        score: float = mixed
        if weighted:  # highest random weight: -w / ln(u) for u uniform in (0, 1)
            score = -upstream.weight / math.log((mixed + 1) / ((1 << 64) + 1))
        if score > best_score:
            best, best_score = upstream, score
    return best


def _mix(value: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit value from any 64-bit value."""
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    value = (value ^ (value >> 27)) * 0x94D049BB133111EB & _MASK
    return value ^ (value >> 31)


def session_key(request: GenerationRequest, limit: int) -> int:
    """The hash of a conversation's beginning: its model, system prompt and first user turn
    (which every later turn of the conversation repeats), at most ``limit`` characters."""
    digest = hashlib.blake2b(request.model.encode(), digest_size=8)
    left = limit
    if request.kind == "chat":
        for message in request.messages:
            text = message.content[:left]
            digest.update(b"\x00%b\x01%b" % (message.role.encode(), text.encode()))
            left -= len(text)
            if message.role == "user" or left <= 0:
                break
    else:
        for text in (request.system or "", request.prompt):
            digest.update(b"\x00" + text[:left].encode())
            left -= min(left, len(text))
    return int.from_bytes(digest.digest(), "little")


def make_strategy(name: str, affinity: bool) -> Strategy:
    base: Strategy = RoundRobin() if name == "round_robin" else LeastInFlight()
    return Affinity(base) if affinity else base
