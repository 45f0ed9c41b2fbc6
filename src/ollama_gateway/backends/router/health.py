"""Upstream health: a circuit breaker per upstream, and how each failure counts.

States: ``closed`` (routed to), ``open`` (ejected: not routed to), ``half_open`` (the active
health check is probing it). Transitions:

- closed -> open: ``threshold`` consecutive failures, or at once on a *hard* failure (the
  connection was refused, or no first token came within the first-token timeout: waiting on
  such an upstream again would cost every request the whole timeout);
- open -> half_open: the next active check probes it (checks run every health interval);
- half_open -> closed on the probe's success, -> open on its failure.

A success (a first chunk, a probe that answers) resets the failure count. The breaker is apart
from routing: strategies only ask :attr:`Breaker.routable`.
"""

from __future__ import annotations

import time
from enum import IntEnum

from ollama_gateway.errors import (
    GatewayError,
    ModelNotFound,
    ServiceUnavailable,
    UpstreamBadResponse,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# Upstream 5xx statuses after which another upstream is tried (before any byte reached the
# client); a plain 500 is usually the request's own fault and is not retried.
RETRY_STATUSES = frozenset({502, 503, 504})


class State(IntEnum):
    """Values of the ``upstream_breaker_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Breaker:
    """One upstream's circuit breaker."""

    __slots__ = ("failures", "last_error", "opened_at", "state", "threshold")

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.state = State.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.last_error = ""

    @property
    def routable(self) -> bool:
        return self.state is State.CLOSED

    def success(self) -> bool:
        """Record a success; True when it closed an open breaker (the upstream rejoined)."""
        rejoined = self.state is not State.CLOSED
        self.state = State.CLOSED
        self.failures = 0
        self.last_error = ""
        return rejoined

    def failure(self, hard: bool, reason: str = "") -> bool:
        """Record a failure; True when it opened the breaker (the upstream was ejected)."""
        self.failures += 1
        self.last_error = reason[:300]
        if self.state is State.OPEN:
            return False
        if hard or self.failures >= self.threshold or self.state is State.HALF_OPEN:
            self.state = State.OPEN
            self.opened_at = time.monotonic()
            return True
        return False

    def probing(self) -> None:
        """The active check is about to probe an ejected upstream."""
        if self.state is State.OPEN:
            self.state = State.HALF_OPEN


def classify(exc: BaseException) -> tuple[str, bool | None, bool]:
    """``(status label, health failure, retry elsewhere)`` for an upstream's failure.

    The health failure is None (not the upstream's fault: the request's or the model's), False
    (a soft failure: counts towards the threshold) or True (hard: ejects at once).
    """
    if isinstance(exc, UpstreamUnavailable):
        return "unavailable", True, True
    if isinstance(exc, UpstreamTimeout):
        return "timeout", True, True
    if isinstance(exc, UpstreamBadResponse):
        return "bad_response", False, True
    if isinstance(exc, ServiceUnavailable):
        return "busy", False, True
    if isinstance(exc, UpstreamServerError):
        return "error", False, exc.upstream_status in RETRY_STATUSES
    if isinstance(exc, ModelNotFound):
        return "not_found", None, True  # the model list was stale: another one may have it
    if isinstance(exc, GatewayError):
        if exc.status_code < 500:
            return "client_error", None, False
        return "error", False, False
    return "error", None, False
