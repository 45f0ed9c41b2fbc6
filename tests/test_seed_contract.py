"""The seed contract, byte for byte, through a live gateway in front of the fake Ollama."""

from __future__ import annotations

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings
from tests.support.live import serve
from tests.support.secrets import SECRET_PROMPT


@pytest.fixture(scope="module")
def gateway(fake_ollama, clean_env):
    """One live gateway for the module (the ``ollama`` fixture resets the fake for each test)."""
    with clean_env():
        settings = Settings(_env_file=None, backend="ollama", ollama_url=fake_ollama.url)
        with serve(create_app(settings)) as url:
            yield url


@pytest.mark.parametrize("path", ["/api/generate", "/api/generate/"])
def test_seed_call_answers_directly_on_both_paths(gateway, ollama, path):
    r = httpx.post(gateway + path, json={"prompt": SECRET_PROMPT}, follow_redirects=False)
    assert r.status_code == 200
    body = r.json()
    assert body["generated_text"] == "Hello, world!"
    assert body["model"] == "deepseek-r1:1.5b"
    assert isinstance(body["elapsed_time"], float) and 0 <= body["elapsed_time"] < 60
    assert r.headers["content-type"] == "application/json"
    # exactly what Ollama was asked
    assert ollama.last("/api/generate").body == {
        "model": "deepseek-r1:1.5b",
        "prompt": SECRET_PROMPT,
        "stream": False,
    }


def test_model_name_setting_is_the_default_model(ollama, make_settings, monkeypatch):
    from ollama_gateway.settings import Settings

    monkeypatch.setenv("MODEL_NAME", "llama2")
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    settings = Settings(_env_file=None, backend="ollama")
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "hi"})
    assert r.json()["model"] == "llama2"
    assert ollama.last("/api/generate").body["model"] == "llama2"


@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        (b"{not json", 400, "invalid JSON in request body"),
        (b"", 400, "request body is empty; expected a JSON object"),
        (b"[1, 2]", 400, "request body must be a JSON object"),
        (b"{}", 400, "field 'prompt' is required"),
        (b'{"prompt": 123}', 400, "invalid 'prompt': Input should be a valid string"),
        (b'{"prompt": "x", "options": {"temperature": "hot"}}', 400, None),
    ],
)
def test_bad_input_is_a_clear_4xx(gateway, content, status, detail):
    r = httpx.post(
        gateway + "/api/generate", content=content, headers={"content-type": "application/json"}
    )
    assert r.status_code == status
    body = r.json()
    assert body["detail"] == body["error"]
    if detail is not None:
        assert body["detail"] == detail
    assert "Traceback" not in r.text


def test_body_over_the_limit_is_413(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, max_body_bytes=1000)
    with serve(create_app(settings)) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "x" * 2000})
        assert r.status_code == 413
        assert r.json()["detail"] == "request body is larger than 1000 bytes"
        ok = httpx.post(url + "/api/generate", json={"prompt": "x" * 500})
        assert ok.status_code == 200


def test_default_body_limit_is_one_mebibyte(gateway):
    r = httpx.post(gateway + "/api/generate", json={"prompt": "x" * (1 << 20)})
    assert r.status_code == 413


def test_unexpected_failure_is_a_short_500(make_settings):
    class Broken:
        name = "broken"
        splits_thinking = False

        async def start(self):
            pass

        async def close(self):
            pass

        async def generate(self, request):
            raise RuntimeError("/secret/path/engine.py exploded")
            yield  # pragma: no cover

    with serve(create_app(make_settings(), backend=Broken())) as url:
        r = httpx.post(url + "/api/generate", json={"prompt": "hi"})
    assert r.status_code == 500
    body = r.json()
    request_id = r.headers["x-request-id"]
    assert body == {
        "detail": f"internal error (request {request_id})",
        "error": f"internal error (request {request_id})",
    }
    assert "/secret/path" not in r.text


def test_service_info_and_health(gateway):
    info = httpx.get(gateway + "/info").json()
    assert info["name"] == "ollama-gateway"
    assert info["default_model"] == "deepseek-r1:1.5b"
    assert info["backend"] == "ollama"
    assert httpx.get(gateway + "/health").json() == {"status": "ok"}


def test_request_id_is_taken_from_the_client_or_generated(gateway):
    r = httpx.get(gateway + "/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = httpx.get(gateway + "/health").headers["x-request-id"]
    assert len(generated) == 32
    hostile = httpx.get(gateway + "/health", headers={"X-Request-ID": "a b\tc"})
    assert hostile.headers["x-request-id"] != "a b\tc"


def test_requests_do_not_hold_a_thread_each(ollama, make_settings):
    """16 upstream calls are in flight at the same moment: the handler is async, requests
    overlap instead of queueing behind each other. (The fake Ollama, scripted to hold each reply
    until it is released, counts how many it holds.)"""
    ollama.script("hold", hold=True)
    import concurrent.futures
    import time

    settings = make_settings(backend="ollama", ollama_url=ollama.url, parallel=16)
    with serve(create_app(settings)) as url, concurrent.futures.ThreadPoolExecutor(16) as pool:
        calls = [
            pool.submit(
                httpx.post, url + "/api/generate", json={"model": "hold", "prompt": "x"}, timeout=60
            )
            for _ in range(16)
        ]
        deadline = time.monotonic() + 30  # a liveness bound, not a speed claim
        while ollama.held < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        overlapped = ollama.held
        while not all(call.done() for call in calls):  # late arrivals are released too
            ollama.release_held()
            time.sleep(0.01)
        codes = [call.result().status_code for call in calls]
    assert overlapped == 16
    assert codes == [200] * 16
