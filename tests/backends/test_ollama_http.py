"""The Ollama upstream backend against the fake Ollama on loopback, through a live gateway."""

from __future__ import annotations

import socket
import time

import httpx
import orjson
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings
from tests.support.fake_ollama import BUSY
from tests.support.live import serve


@pytest.fixture(scope="module")
def gateway(fake_ollama, clean_env):
    """One live gateway for the module (the ``ollama`` fixture resets the fake for each test)."""
    with clean_env():
        settings = Settings(
            _env_file=None, backend="ollama", ollama_url=fake_ollama.url, first_token_timeout=5
        )
        with serve(create_app(settings)) as url:
            yield url


def _lines(response: httpx.Response) -> list[dict]:
    return [orjson.loads(line) for line in response.text.splitlines() if line]


def test_ollama_fields_are_forwarded_exactly(gateway, ollama):
    body = {
        "model": "llama2",
        "prompt": "Why is the sky blue?",
        "system": "Be brief.",
        "options": {"temperature": 0, "num_predict": 5, "stop": ["\n"], "seed": 7, "custom": 1},
        "format": "json",
        "keep_alive": "10m",
        "think": True,
        "stream": False,
        "raw": True,
        "ignored_field": 1,
    }
    r = httpx.post(gateway + "/api/generate", json=body)
    assert r.status_code == 200
    assert ollama.last("/api/generate").body == {
        "model": "llama2",
        "prompt": "Why is the sky blue?",
        "system": "Be brief.",
        "raw": True,
        "format": "json",
        "options": {"temperature": 0.0, "num_predict": 5, "stop": ["\n"], "seed": 7, "custom": 1},
        "stream": False,
        "keep_alive": 600.0,
        "think": True,
    }


def test_generate_streams_ndjson(gateway, ollama):
    r = httpx.post(
        gateway + "/api/generate", json={"model": "llama2", "prompt": "hi", "stream": True}
    )
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = _lines(r)
    assert [line["response"] for line in lines] == ["Hello", ",", " world", "!", ""]
    assert [line["done"] for line in lines] == [False] * 4 + [True]
    final = lines[-1]
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == 4 and final["prompt_eval_count"] == 3
    assert final["context"] == [1, 2, 3]
    assert r.text.endswith("\n")
    assert ollama.last("/api/generate").body["stream"] is True


def test_chat_streams_and_completes(gateway, ollama):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    r = httpx.post(gateway + "/api/chat", json={"model": "llama2", "messages": messages})
    lines = _lines(r)
    assert "".join(line["message"]["content"] for line in lines) == "Hello, world!"
    assert lines[-1]["done"] is True
    sent = ollama.last("/api/chat").body
    assert sent == {"model": "llama2", "messages": messages, "stream": True}
    r = httpx.post(
        gateway + "/api/chat", json={"model": "llama2", "messages": messages, "stream": False}
    )
    assert r.json()["message"] == {"role": "assistant", "content": "Hello, world!"}


def test_missing_model_is_404(gateway):
    r = httpx.post(gateway + "/api/generate", json={"model": "missing", "prompt": "x"})
    assert r.status_code == 404
    assert r.json()["detail"] == 'model "missing" not found, try pulling it first'
    r = httpx.post(gateway + "/api/chat", json={"model": "missing", "messages": [], "stream": True})
    assert r.status_code == 404
    assert r.json() == {"error": 'model "missing" not found, try pulling it first'}


def test_busy_ollama_is_503_with_retry_after(gateway, ollama):
    ollama.script("busy", status=503, error=BUSY)
    r = httpx.post(gateway + "/api/generate", json={"model": "busy", "prompt": "x"})
    assert r.status_code == 503
    assert "maximum pending requests exceeded" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1


def test_malformed_upstream_reply_is_502(gateway, ollama):
    ollama.script("garbage", raw=b"<html>not json</html>")
    r = httpx.post(gateway + "/api/generate", json={"model": "garbage", "prompt": "x"})
    assert r.status_code == 502
    assert r.json()["detail"] == "malformed reply from Ollama (not JSON)"


def test_unreachable_ollama_is_503_naming_the_url(make_settings):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    settings = make_settings(backend="ollama", ollama_url=f"127.0.0.1:{port}")
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "x"})
    assert r.status_code == 503
    assert r.json()["detail"].startswith(f"cannot reach Ollama at http://127.0.0.1:{port}: ")
    assert "retry-after" in r.headers


def test_slow_upstream_times_out_with_504(ollama, make_settings):
    ollama.script("slow", delay=2.0)
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, request_timeout=0.3, first_token_timeout=0.3
    )
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"model": "slow", "prompt": "x"})
        s = httpx.post(url + "/api/generate", json={"model": "slow", "prompt": "x", "stream": True})
    assert r.status_code == 504
    assert "did not answer in time" in r.json()["detail"]
    assert s.status_code == 504


def test_connection_dropped_mid_stream_is_an_in_band_error(gateway, ollama):
    ollama.script("drop", drop_after=2)
    r = httpx.post(gateway + "/api/generate", json={"model": "drop", "prompt": "x", "stream": True})
    assert r.status_code == 200
    lines = _lines(r)
    assert [line.get("response") for line in lines[:2]] == ["Hello", ","]
    assert lines[-1] == {"error": "Ollama closed the connection mid-stream"}


def test_client_disconnect_closes_the_upstream_stream(gateway, ollama):
    ollama.script("trickle", trickle=0.05)
    before = ollama.disconnects
    with httpx.stream(
        "POST",
        gateway + "/api/generate",
        json={"model": "trickle", "prompt": "x", "stream": True},
    ) as r:
        lines = r.iter_lines()
        assert orjson.loads(next(lines))["response"] == "x"
    deadline = time.monotonic() + 5
    while ollama.disconnects == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ollama.disconnects == before + 1
    assert ollama.streams_open == 0


def test_thinking_is_passed_through_to_ollama(gateway, ollama):
    r = httpx.post(
        gateway + "/api/generate",
        json={"model": "thinker", "prompt": "x", "stream": False},
    )
    # think absent: the model's raw output, tags included (the seed's behaviour)
    assert r.json()["response"] == "<think>Let me think.</think>\n\nAnswer."
    assert "think" not in ollama.last("/api/generate").body
