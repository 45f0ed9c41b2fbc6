"""The circuit breaker's states and how upstream failures count."""

from __future__ import annotations

import pytest

from ollama_gateway.backends.router.health import Breaker, State, classify
from ollama_gateway.errors import (
    BadRequest,
    ModelNotFound,
    ServiceUnavailable,
    UpstreamBadResponse,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)


def test_soft_failures_open_it_at_the_threshold_and_a_success_resets_the_count():
    breaker = Breaker(threshold=3)
    assert not breaker.failure(False) and not breaker.failure(False)
    assert breaker.success() is False  # it was closed: nothing rejoined
    assert not breaker.failure(False) and not breaker.failure(False)
    assert breaker.failure(False, "502 from upstream")
    assert breaker.state is State.OPEN and not breaker.routable
    assert breaker.last_error == "502 from upstream"


def test_a_hard_failure_opens_it_at_once():
    breaker = Breaker(threshold=5)
    assert breaker.failure(True, "connection refused")
    assert breaker.state is State.OPEN


def test_half_open_probe_closes_on_success_and_reopens_on_failure():
    breaker = Breaker(threshold=3)
    breaker.failure(True)
    breaker.probing()
    assert breaker.state is State.HALF_OPEN and not breaker.routable
    breaker.failure(False)  # one soft failure is enough while probing
    assert breaker.state is State.OPEN
    breaker.probing()
    assert breaker.success() is True
    assert breaker.state is State.CLOSED and breaker.routable and breaker.failures == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UpstreamUnavailable("refused"), ("unavailable", True, True)),
        (UpstreamTimeout("no first token"), ("timeout", True, True)),
        (UpstreamBadResponse("reset"), ("bad_response", False, True)),
        (ServiceUnavailable("busy"), ("busy", False, True)),
        (UpstreamServerError("bad gateway", upstream_status=502), ("error", False, True)),
        (UpstreamServerError("oops", upstream_status=500), ("error", False, False)),
        (ModelNotFound("m"), ("not_found", None, True)),
        (BadRequest("bad"), ("client_error", None, False)),
    ],
)
def test_classify(error, expected):
    assert classify(error) == expected
