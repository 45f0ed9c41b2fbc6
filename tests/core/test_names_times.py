"""Model names and RFC 3339 times, each parsed in one place (core/names.py, core/times.py)."""

from __future__ import annotations

import doctest
from datetime import datetime, timezone

import pytest

from ollama_gateway.api.openai.routes import created_of
from ollama_gateway.cli.supervisor import normalize_model_name
from ollama_gateway.core import names, times
from ollama_gateway.core.names import full_name
from ollama_gateway.core.times import rfc3339_now, rfc3339_seconds


@pytest.mark.parametrize("module", [names, times])
def test_doctests_pass(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("llama2", "llama2:latest"),
        ("llama2:7b", "llama2:7b"),
        ("ns/m", "ns/m:latest"),
        ("localhost:5000/ns/m", "localhost:5000/ns/m:latest"),
        ("localhost:5000/ns/m:q4", "localhost:5000/ns/m:q4"),
    ],
)
def test_full_name_adds_latest_only_without_a_tag(name, full):
    assert full_name(name) == full
    assert normalize_model_name(name) == full  # the supervisor also drops library prefixes


def test_times_go_writes_are_read_to_the_microsecond():
    expected = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc).timestamp()
    assert rfc3339_seconds("2030-01-02T03:04:05.123456789Z") == pytest.approx(expected)
    assert rfc3339_seconds("2030-01-02T04:04:05.123456+01:00") == pytest.approx(expected)
    assert rfc3339_seconds("2030-01-02T03:04:05.1Z") == pytest.approx(expected - 0.023456)
    for bad in ("", "not a time", "2030-01-02", "2030-13-02T03:04:05Z"):
        assert rfc3339_seconds(bad) is None


def test_openai_created_is_whole_seconds_or_zero():
    assert created_of("2025-01-01T10:00:00.999999999-08:00") == 1735754400
    assert created_of("1969-12-31T23:59:59.5Z") == -1  # the fraction is dropped, not rounded
    assert created_of("garbage") == 0


def test_now_is_what_it_reads_back_as():
    before = datetime.now(timezone.utc).timestamp()
    now = rfc3339_now()
    after = datetime.now(timezone.utc).timestamp()
    assert now.endswith("Z") and len(now) == len("2025-01-01T00:00:00.000000Z")
    read = rfc3339_seconds(now)
    assert read is not None and before - 1e-6 <= read <= after + 1e-6
