"""``/metrics`` through a live gateway in front of the fake Ollama: values move as requests run."""

from __future__ import annotations

import socket

import httpx
import pytest

from ollama_gateway.app import create_app
from tests.observability.scrape import label_values, scrape, value
from tests.support.fake_ollama import BUSY, MIDFAIL
from tests.support.live import serve
from tests.support.secrets import KEY_A, SECRET_PROMPT, WRONG_KEY

AUTH = {"X-API-KEY": KEY_A}
MODEL = "deepseek-r1:1.5b"
# The fake Ollama's final chunk: prompt_eval_count=3, eval_count=4, eval_duration=800 ns.
PROMPT_TOKENS, GENERATED_TOKENS, EVAL_SECONDS = 3, 4, 800e-9


@pytest.fixture
def gateway(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A])
    with serve(create_app(settings)) as url:
        yield url


def _requests(samples, route, status, method="POST"):
    return value(
        samples, "ollama_gateway_requests_total", route=route, method=method, status=str(status)
    )


def test_generations_count_requests_tokens_speed_and_first_token(gateway):
    before = scrape(gateway, AUTH)
    r = httpx.post(gateway + "/api/generate", json={"prompt": "hi"}, headers=AUTH)
    assert r.status_code == 200
    with httpx.stream(
        "POST", gateway + "/api/generate", json={"prompt": "hi", "stream": True}, headers=AUTH
    ) as streamed:
        assert len([line for line in streamed.iter_lines() if line]) == 5
    chat = httpx.post(
        gateway + "/api/chat",
        json={"model": "llama2:latest", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
    )
    assert chat.status_code == 200
    after = scrape(gateway, AUTH)

    assert _requests(after, "/api/generate", 200) - _requests(before, "/api/generate", 200) == 2
    assert _requests(after, "/api/chat", 200) - _requests(before, "/api/chat", 200) == 1
    assert value(after, "ollama_gateway_prompt_tokens_total", model=MODEL) == 2 * PROMPT_TOKENS
    assert value(after, "ollama_gateway_generated_tokens_total", model=MODEL) == 2 * 4
    assert value(after, "ollama_gateway_generated_tokens_total", model="llama2:latest") == 4
    speed = value(after, "ollama_gateway_generation_tokens_per_second_sum", model=MODEL)
    assert speed == pytest.approx(2 * GENERATED_TOKENS / EVAL_SECONDS)
    assert value(after, "ollama_gateway_time_to_first_token_seconds_count", model=MODEL) == 2
    ttft = value(after, "ollama_gateway_time_to_first_token_seconds_sum", model=MODEL)
    assert 0 < ttft < 10
    duration = value(
        after, "ollama_gateway_request_duration_seconds_count", route="/api/generate", method="POST"
    )
    assert duration == 2
    assert value(after, "ollama_gateway_requests_in_flight") == 1  # the scrape itself


def test_time_to_first_token_includes_the_wait_for_the_model(gateway, ollama):
    ollama.script("slow", delay=0.3)  # the fake Ollama waits 0.3 s before it answers at all
    r = httpx.post(gateway + "/api/generate", json={"model": "slow", "prompt": "hi"}, headers=AUTH)
    assert r.status_code == 200
    samples = scrape(gateway, AUTH)
    assert value(samples, "ollama_gateway_time_to_first_token_seconds_count", model="slow") == 1
    ttft = value(samples, "ollama_gateway_time_to_first_token_seconds_sum", model="slow")
    assert 0.3 <= ttft < 0.3 + 5
    # the histogram put it in a bucket at or above the delay
    assert (
        value(samples, "ollama_gateway_time_to_first_token_seconds_bucket", model="slow", le="0.25")
        == 0
    )


def test_a_503_from_upstream_and_401s_are_counted_as_such(ollama, gateway):
    ollama.script("busy", status=503, error=BUSY)
    before = scrape(gateway, AUTH)
    busy = httpx.post(
        gateway + "/api/generate", json={"model": "busy", "prompt": "hi"}, headers=AUTH
    )
    assert busy.status_code == 503
    for headers in ({}, {"X-API-KEY": WRONG_KEY}):
        assert (
            httpx.post(gateway + "/api/generate", json={"prompt": "x"}, headers=headers).status_code
            == 401
        )
    assert httpx.get(gateway + "/metrics").status_code == 401
    after = scrape(gateway, AUTH)
    assert _requests(after, "/api/generate", 503) - _requests(before, "/api/generate", 503) == 1
    assert _requests(after, "/api/generate", 401) - _requests(before, "/api/generate", 401) == 2
    assert _requests(after, "/metrics", 401, "GET") - _requests(before, "/metrics", 401, "GET") == 1
    assert value(after, "ollama_gateway_upstream_errors_total", kind="busy") == 1
    # a failed generation produced no tokens
    assert value(after, "ollama_gateway_generated_tokens_total", model="busy") == 0


def test_route_label_is_the_template_and_unknown_paths_share_one_label(gateway):
    for path in ("/no/such/thing", "/nope-1", "/nope-2"):
        assert httpx.get(gateway + path, headers=AUTH).status_code == 404
    assert (
        httpx.post(gateway + "/api/generate/", json={"prompt": "x"}, headers=AUTH).status_code
        == 200
    )
    assert httpx.get(gateway + "/api/generate", headers=AUTH).status_code == 405
    assert httpx.request("PROPFIND", gateway + "/health").status_code == 401
    samples = scrape(gateway, AUTH)
    routes = label_values(samples, "ollama_gateway_requests_total", "route")
    assert routes <= {"/api/generate", "/health", "/metrics", "unmatched"}, routes
    assert _requests(samples, "unmatched", 404, "GET") == 3
    assert _requests(samples, "/api/generate", 200) == 1  # the trailing slash, normalised
    assert _requests(samples, "/api/generate", 405, "GET") == 1
    assert "PROPFIND" not in label_values(samples, "ollama_gateway_requests_total", "method")
    assert _requests(samples, "/health", 401, "other") == 1


def test_upstream_errors_by_kind(ollama, gateway, make_settings):
    ollama.script("garbage", raw=b"<html>not json</html>")
    ollama.script("drop", drop_after=2)
    bad = httpx.post(
        gateway + "/api/generate", json={"model": "garbage", "prompt": "x"}, headers=AUTH
    )
    assert bad.status_code == 502
    with httpx.stream(
        "POST", gateway + "/api/chat", json={"model": "drop", "messages": []}, headers=AUTH
    ) as dropped:
        lines = [line for line in dropped.iter_lines() if line]
    assert '"error"' in lines[-1]
    missing = httpx.post(
        gateway + "/api/generate", json={"model": "missing", "prompt": "x"}, headers=AUTH
    )
    assert missing.status_code == 404
    samples = scrape(gateway, AUTH)
    assert value(samples, "ollama_gateway_upstream_errors_total", kind="bad_response") == 2
    # a missing model is the client's mistake, not the upstream failing
    assert label_values(samples, "ollama_gateway_upstream_errors_total", "kind") == {"bad_response"}


def test_an_error_inside_the_upstreams_stream_is_counted_as_its_error(ollama, gateway):
    ollama.script("midfail", fail_after=2)
    with httpx.stream(
        "POST", gateway + "/api/chat", json={"model": "midfail", "messages": []}, headers=AUTH
    ) as failed:
        lines = [line for line in failed.iter_lines() if line]
    assert lines[-1] == '{"error":"' + MIDFAIL + '"}'  # Ollama's own words, in-band
    samples = scrape(gateway, AUTH)
    assert value(samples, "ollama_gateway_upstream_errors_total", kind="error") == 1
    assert label_values(samples, "ollama_gateway_upstream_errors_total", "kind") == {"error"}


def test_unreachable_upstream_is_counted(make_settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = make_settings(backend="ollama", ollama_url=f"http://127.0.0.1:{closed}")
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "x"})
        assert r.status_code == 503
        samples = scrape(url)
    assert value(samples, "ollama_gateway_upstream_errors_total", kind="unavailable") == 1
    assert _requests(samples, "/api/generate", 503) == 1


def test_loaded_models_gauge_matches_ps(gateway, ollama):
    ps = httpx.get(gateway + "/api/ps", headers=AUTH).json()["models"]  # what clients see
    samples = scrape(gateway, AUTH)
    assert value(samples, "ollama_gateway_loaded_models") == len(ps) == 1
    for model in ps:
        size = value(samples, "ollama_gateway_loaded_model_size_bytes", model=model["name"])
        assert size == model["size"]


def test_metrics_need_a_key_unless_public(ollama, make_settings):
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A], metrics_public=True
    )
    with serve(create_app(settings)) as url:
        assert httpx.get(url + "/metrics").status_code == 200
        assert httpx.post(url + "/api/generate", json={"prompt": "x"}).status_code == 401
        assert httpx.post(url + "/metrics").status_code == 401  # only GET is public


def test_every_app_has_its_own_registry(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url)
    with serve(create_app(settings)) as first, serve(create_app(settings)) as second:
        httpx.post(first + "/api/generate", json={"prompt": "x"})
        assert _requests(scrape(first), "/api/generate", 200) == 1
        assert _requests(scrape(second), "/api/generate", 200) == 0


def test_an_upstream_that_does_not_answer_in_time_is_a_timeout(ollama, make_settings):
    ollama.script("slow", delay=0.3)
    settings = make_settings(backend="ollama", ollama_url=ollama.url, first_token_timeout=0.05)
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"model": "slow", "prompt": "x", "stream": True})
        assert r.status_code == 504
        samples = scrape(url)
    assert value(samples, "ollama_gateway_upstream_errors_total", kind="timeout") == 1


def test_no_key_key_id_or_prompt_reaches_the_metrics(gateway):
    from ollama_gateway.http.auth import digest_of, key_id_of

    httpx.post(gateway + "/api/generate", json={"prompt": SECRET_PROMPT}, headers=AUTH)
    httpx.post(gateway + "/api/generate", json={"prompt": SECRET_PROMPT})  # 401
    missing = {"prompt": SECRET_PROMPT, "model": "missing"}
    assert httpx.post(gateway + "/api/generate", json=missing, headers=AUTH).status_code == 404
    text = httpx.get(gateway + "/metrics", headers=AUTH).text
    for secret in (KEY_A, key_id_of(digest_of(KEY_A)), SECRET_PROMPT):
        assert secret not in text


def test_openai_routes_are_labelled_by_template(gateway):
    for model in ("llama2:latest", "deepseek-r1:1.5b"):
        r = httpx.get(gateway + "/v1/models/" + model, headers=AUTH)
        assert r.status_code == 200
    assert httpx.get(gateway + "/v1/models/some-model").status_code == 401  # no key: not routed
    chat = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
    )
    assert chat.status_code == 200
    samples = scrape(gateway, AUTH)
    template = "/v1/models/{model_id:path}"
    assert _requests(samples, template, 200, "GET") == 2
    assert _requests(samples, template, 401, "GET") == 1
    assert _requests(samples, "/v1/chat/completions", 200) == 1
    assert value(samples, "ollama_gateway_generated_tokens_total", model=MODEL) == GENERATED_TOKENS
    routes = label_values(samples, "ollama_gateway_requests_total", "route")
    assert not any("llama2" in route for route in routes)
