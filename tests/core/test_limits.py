"""Request limits: num_predict cap, a generation deadline for any backend, context too long."""

from __future__ import annotations

import httpx
import orjson
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.errors import ContextTooLong
from tests.support.live import serve
from tests.support.scripted import Endless, ScriptedBackend


@pytest.mark.parametrize(
    ("asked", "sent"),
    [(100, 100), (64, 64), (1000, 64), (-1, 64), (None, None)],
)
def test_num_predict_is_capped_by_max_predict(make_settings, ollama, asked, sent):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, max_predict=64)
    body: dict = {"prompt": "x"}
    if asked is not None:
        body["options"] = {"num_predict": asked}
    with serve(create_app(settings)) as url:
        reply = httpx.post(url + "/api/generate", json=body, timeout=10)
    assert reply.status_code == 200
    options = ollama.last("/api/generate").body.get("options", {})
    assert options.get("num_predict") == (
        min(asked, 64) if asked is not None and asked >= 0 else sent
    )


def test_num_predict_of_the_wrong_type_is_400(make_settings, ollama):
    settings = make_settings(backend="ollama", ollama_url=ollama.url)
    with serve(create_app(settings)) as url:
        reply = httpx.post(
            url + "/api/generate", json={"prompt": "x", "options": {"num_predict": "lots"}}
        )
    assert reply.status_code == 400


TOO_LONG = "the prompt is 5000 tokens, more than the context length of 4096 tokens"


def test_a_stream_past_request_timeout_ends_with_an_in_band_error(make_settings):
    backend = ScriptedBackend(replies=[[Endless("x")]], otherwise=["Hello"])
    settings = make_settings(request_timeout=0.3)
    app = create_app(settings, backend=backend)
    with serve(app) as url:
        with httpx.stream(
            "POST",
            url + "/api/generate",
            json={"model": "forever", "prompt": "x", "stream": True},
            timeout=10,
        ) as reply:
            lines = [orjson.loads(line) for line in reply.iter_lines() if line]
        closed = backend.closed
        after = httpx.post(url + "/api/generate", json={"model": "quick", "prompt": "x"})
    assert reply.status_code == 200
    assert lines[0]["response"] == "x"
    assert lines[-1] == {"error": "the generation took longer than 0.3 seconds"}
    assert closed == 1  # the backend was told to stop
    assert app.state.service.scheduler.running() == 0
    assert after.status_code == 200 and after.json()["generated_text"] == "Hello"


def test_a_reply_past_request_timeout_is_504(make_settings):
    settings = make_settings(request_timeout=0.3)
    with serve(create_app(settings, backend=ScriptedBackend(replies=[[Endless("x")]]))) as url:
        reply = httpx.post(
            url + "/api/chat",
            json={"model": "forever", "messages": [], "stream": False},
            timeout=10,
        )
    assert reply.status_code == 504
    assert reply.json() == {"error": "the generation took longer than 0.3 seconds"}


@pytest.mark.parametrize("stream", [True, False])
def test_a_prompt_longer_than_the_context_is_400_naming_both_counts(make_settings, stream):
    settings = make_settings()
    backend = ScriptedBackend(replies=[[ContextTooLong(TOO_LONG)]])  # as the embedded engine does
    with serve(create_app(settings, backend=backend)) as url:
        reply = httpx.post(
            url + "/api/generate",
            json={"model": "toolong", "prompt": "x", "stream": stream},
            timeout=10,
        )
    assert reply.status_code == 400
    assert reply.json() == {"error": TOO_LONG, "detail": TOO_LONG}


# -- sizes bounded before any work, whatever the backend ---------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        (
            "/api/chat",
            {"messages": [{"role": "user", "content": ""}] * 11},
            "too many messages: 11 (the limit is 10)",
        ),
        (
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "x"}] * 11},
            "too many messages: 11",
        ),
        ("/api/generate", {"prompt": "x" * 101, "stream": False}, "101 characters"),
        (
            "/api/chat",
            {"messages": [{"role": "user", "content": "x" * 60}] * 2},
            "120 characters of text (the limit is 100",
        ),
        (
            "/api/generate",
            {"prompt": "x", "template": "{{ .Prompt }}" * 6000},
            "the template is 78000 characters long",
        ),
        ("/api/embed", {"input": ["a"] * 2049}, "too many inputs: 2049 (the limit is 2048)"),
        ("/api/embed", {"input": ["x" * 60, "y" * 60]}, "120 characters"),
    ],
)
def test_sizes_over_a_limit_are_a_400_and_reach_no_backend(
    make_settings, ollama, path, body, words
):
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, max_messages=10, max_prompt_chars=100
    )
    with serve(create_app(settings)) as url:
        reply = httpx.post(url + path, json={"model": "m", **body}, timeout=10)
    assert reply.status_code == 400
    assert words in reply.text
    assert not [r for r in ollama.requests if r.path != "/api/version"]


def test_embeddings_go_through_the_service_slots_and_metrics(make_settings, ollama):
    settings = make_settings(backend="ollama", ollama_url=ollama.url)
    app = create_app(settings)
    with serve(app) as url:
        reply = httpx.post(url + "/api/embed", json={"model": "m", "input": ["a", "b"]}, timeout=10)
        assert reply.status_code == 200
        metrics = httpx.get(url + "/metrics", timeout=10).text
        assert app.state.service.scheduler.running() == 0  # the slot was given back
    counted = [
        line for line in metrics.splitlines() if line.startswith("ollama_gateway_prompt_tokens")
    ]
    assert any('model="m"' in line for line in counted)
