"""Probes and metrics with the real embedded engine (llama.cpp) on a tiny generated model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.core.times import rfc3339_seconds
from tests.observability.scrape import label_values, scrape, value
from tests.support.gguf_models import write_tiny_llama
from tests.support.live import serve, wait_ready

pytestmark = pytest.mark.slow  # real llama.cpp inference

OPTIONS = {"temperature": 0, "num_predict": 6}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("obs-models") / "tiny.gguf", n_ctx=1024)


@pytest.fixture
def embedded(make_settings, tiny, tmp_path) -> Iterator[str]:
    settings = make_settings(
        backend="embedded",
        model=str(tiny),
        models_dir=tmp_path / "store",
        num_ctx=512,
        parallel=1,
        num_threads=1,
        pull_on_start=False,
    )
    with serve(create_app(settings)) as url:
        yield url


def test_engine_generations_move_the_metrics(embedded, tiny):
    url = embedded
    # the default model loads in the background from the start: ready once it is in memory
    assert wait_ready(url) == {"status": "ready", "backend": "embedded"}
    before = scrape(url)
    model = "tiny:latest"  # metrics name the file by its short name, never its path
    # the default model was loaded at start, before any request
    assert value(before, "ollama_gateway_loaded_models") == 1
    assert value(before, "ollama_gateway_model_load_duration_seconds_count", model=model) == 1
    replies = [
        httpx.post(url + "/api/generate", json={"prompt": "hi", "options": OPTIONS}, timeout=60)
        for _ in range(2)
    ]
    assert [r.status_code for r in replies] == [200, 200]
    bodies = [r.json() for r in replies]
    samples = scrape(url)
    assert value(samples, "ollama_gateway_generated_tokens_total", model=model) == sum(
        b["eval_count"] for b in bodies
    )
    assert value(samples, "ollama_gateway_prompt_tokens_total", model=model) == sum(
        b["prompt_eval_count"] for b in bodies
    )
    assert value(samples, "ollama_gateway_time_to_first_token_seconds_count", model=model) == 2
    speeds = sum(b["eval_count"] / (b["eval_duration"] / 1e9) for b in bodies)
    got = value(samples, "ollama_gateway_generation_tokens_per_second_sum", model=model)
    assert got == pytest.approx(speeds)
    # both requests found it loaded: no further load observed
    assert [b["load_duration"] for b in bodies] == [0, 0]
    assert value(samples, "ollama_gateway_model_load_duration_seconds_count", model=model) == 1
    load = value(samples, "ollama_gateway_model_load_duration_seconds_sum", model=model)
    assert load > 0
    # the loaded-model gauges match /api/ps
    ps = httpx.get(url + "/api/ps").json()["models"]
    assert value(samples, "ollama_gateway_loaded_models") == len(ps) == 1
    assert label_values(samples, "ollama_gateway_loaded_model_size_bytes", "model") == {
        ps[0]["name"]
    }
    size = value(samples, "ollama_gateway_loaded_model_size_bytes", model=ps[0]["name"])
    assert size == ps[0]["size"] > 0
    expiry = value(
        samples, "ollama_gateway_loaded_model_expiry_timestamp_seconds", model=ps[0]["name"]
    )
    assert expiry == pytest.approx(rfc3339_seconds(ps[0]["expires_at"]), abs=1e-3)
    assert label_values(samples, "ollama_gateway_upstream_errors_total", "kind") == set()


def test_a_default_model_that_cannot_load_is_a_failure_not_loading(make_settings, tmp_path):
    settings = make_settings(
        backend="embedded",
        model="no-such-model:1b",
        models_dir=tmp_path / "store",
        pull_on_start=False,
    )
    with serve(create_app(settings)) as url:
        deadline = time.monotonic() + 30
        while (r := httpx.get(url + "/ready")).json()["status"] == "loading":
            assert time.monotonic() < deadline, r.json()
            time.sleep(0.05)
        assert r.status_code == 503
        assert r.json()["status"] == "failed"  # not "loading" forever
        assert "no-such-model" in r.json()["reason"]
        assert httpx.get(url + "/health").status_code == 200
