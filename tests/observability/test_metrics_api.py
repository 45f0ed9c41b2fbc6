"""The instrumentation API other components call (middleware, observer, scheduler state, the
engine): values land as documented."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from ollama_gateway.core.types import RunningModel
from ollama_gateway.observability.metrics import LabelCap, Metrics
from tests.observability.scrape import label_values, parse, value


def samples(metrics: Metrics):
    return parse(metrics.render().decode())


def test_slot_state_and_rejections():
    m = Metrics()
    m.set_slots({"llama2": (2, 3)})
    m.set_slots({"llama2": (2, 1)})  # each call replaces the whole state
    m.rejected("queue_full")
    m.rejected("queue_full")
    m.rejected("rate_limit")
    s = samples(m)
    assert value(s, "ollama_gateway_queue_depth", model="llama2") == 1
    assert value(s, "ollama_gateway_running_slots", model="llama2") == 2
    assert value(s, "ollama_gateway_rejected_requests_total", reason="queue_full") == 2
    assert value(s, "ollama_gateway_rejected_requests_total", reason="rate_limit") == 1


def test_loads_and_the_loaded_set():
    m = Metrics()
    m.observe_load("a", 1.5)
    m.observe_load("b", 0.25)
    m.set_loaded([RunningModel(name="a", size=1000), RunningModel(name="b", size=2000)])
    s = samples(m)
    assert value(s, "ollama_gateway_loaded_models") == 2
    assert value(s, "ollama_gateway_loaded_model_size_bytes", model="b") == 2000
    assert value(s, "ollama_gateway_model_load_duration_seconds_sum", model="a") == 1.5
    assert value(s, "ollama_gateway_model_load_duration_seconds_bucket", model="b", le="0.5") == 1
    m.set_loaded([RunningModel(name="b", size=2000)])  # "a" was unloaded
    s = samples(m)
    assert value(s, "ollama_gateway_loaded_models") == 1
    assert label_values(s, "ollama_gateway_loaded_model_size_bytes", "model") == {"b"}
    # the load history stays: it is a histogram of past loads
    assert value(s, "ollama_gateway_model_load_duration_seconds_count", model="a") == 1


def test_set_loaded_replaces_the_set_with_size_and_expiry():
    m = Metrics()
    m.set_loaded([RunningModel(name="old", size=1)])
    m.set_loaded(
        [
            RunningModel(name="x:latest", size=123, expires_at="2030-01-02T03:04:05.123456789Z"),
            RunningModel(name="y:1b", size=456, expires_at="2030-01-02T04:04:05+01:00"),
            RunningModel(name="z", size=7, expires_at="not a time"),
        ]
    )
    s = samples(m)
    assert value(s, "ollama_gateway_loaded_models") == 3
    assert label_values(s, "ollama_gateway_loaded_model_size_bytes", "model") == {
        "x:latest",
        "y:1b",
        "z",
    }
    expected = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc).timestamp()
    got = value(s, "ollama_gateway_loaded_model_expiry_timestamp_seconds", model="x:latest")
    assert got == pytest.approx(expected)
    y = value(s, "ollama_gateway_loaded_model_expiry_timestamp_seconds", model="y:1b")
    assert y == pytest.approx(expected - 0.123456)
    assert "z" not in label_values(
        s, "ollama_gateway_loaded_model_expiry_timestamp_seconds", "model"
    )
    m.set_loaded([])
    s = samples(m)
    assert value(s, "ollama_gateway_loaded_models") == 0
    assert label_values(s, "ollama_gateway_loaded_model_size_bytes", "model") == set()


def test_token_observation_counts_and_speed():
    m = Metrics()
    m.observe_tokens("q", prompt=10, generated=50, seconds=2.0)
    m.observe_tokens("q", prompt=5, generated=0, seconds=0.0)  # nothing generated: no speed
    s = samples(m)
    assert value(s, "ollama_gateway_prompt_tokens_total", model="q") == 15
    assert value(s, "ollama_gateway_generated_tokens_total", model="q") == 50
    assert value(s, "ollama_gateway_generation_tokens_per_second_count", model="q") == 1
    assert value(s, "ollama_gateway_generation_tokens_per_second_sum", model="q") == 25


def test_model_and_reason_labels_are_capped():
    m = Metrics(max_models=3, max_reasons=2)
    for i in range(10):
        m.observe_tokens(f"model-{i}", 1, 1, 1.0)
        m.rejected(f"reason-{i}")
    m.upstream_error("something new")
    s = samples(m)
    assert label_values(s, "ollama_gateway_generated_tokens_total", "model") == {
        "model-0",
        "model-1",
        "model-2",
        "other",
    }
    assert value(s, "ollama_gateway_generated_tokens_total", model="other") == 7
    assert value(s, "ollama_gateway_rejected_requests_total", reason="other") == 8
    assert label_values(s, "ollama_gateway_upstream_errors_total", "kind") == {"other"}


def test_label_cap_holds_under_threads():
    cap = LabelCap(5)
    seen: list[str] = []

    def worker(n: int) -> None:
        seen.extend(cap(f"v{n}-{i}") for i in range(50))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(seen) - {"other"}) == 5
    assert cap("x" * 1000) in ("other",)  # long values are cut, and the cap is full


def test_long_label_values_are_cut():
    assert LabelCap(2)("m" * 500) == "m" * 120


def test_request_children_do_not_grow_with_odd_methods():
    m = Metrics()
    for i in range(100):
        m.http.observe("unmatched", f"X{i}", 405, 0.001)
    s = samples(m)
    assert (
        value(s, "ollama_gateway_requests_total", route="unmatched", method="other", status="405")
        == 100
    )
    assert len(m.http.counts) == len(m.http.durations) == 1


def test_request_histogram_buckets_are_cumulative_with_le_semantics():
    m = Metrics()
    for seconds in (0.005, 0.0051, 0.3, 1000.0):
        m.http.observe("/x", "GET", 200, seconds)
    s = samples(m)

    def bucket(le):
        return value(
            s, "ollama_gateway_request_duration_seconds_bucket", route="/x", method="GET", le=le
        )

    assert bucket("0.005") == 1  # a value equal to a bound is inside it
    assert bucket("0.01") == 2
    assert bucket("0.25") == 2
    assert bucket("0.5") == 3
    assert bucket("300.0") == 3
    assert bucket("+Inf") == 4
    assert value(s, "ollama_gateway_request_duration_seconds_count", route="/x", method="GET") == 4
    total = value(s, "ollama_gateway_request_duration_seconds_sum", route="/x", method="GET")
    assert total == pytest.approx(1000.3101)
    assert value(s, "ollama_gateway_requests_total", route="/x", method="GET", status="200") == 4


def test_scrape_sources_publish_state_when_rendered():
    m = Metrics()
    state = {"a": (2, 5), "b": (1, 0)}
    m.on_scrape(lambda metrics: metrics.set_slots(state))
    s = samples(m)
    assert value(s, "ollama_gateway_running_slots", model="a") == 2
    assert value(s, "ollama_gateway_queue_depth", model="a") == 5
    del state["a"]  # a model no longer in use leaves no stale series behind
    s = samples(m)
    assert label_values(s, "ollama_gateway_running_slots", "model") == {"b"}


def test_a_failing_scrape_source_does_not_break_the_scrape(caplog):
    m = Metrics()

    def broken(metrics):
        raise RuntimeError("boom")

    m.on_scrape(broken)
    m.on_scrape(lambda metrics: metrics.set_slots({"c": (0, 4)}))
    s = samples(m)
    assert value(s, "ollama_gateway_queue_depth", model="c") == 4
    assert "a metrics source failed" in caplog.text
