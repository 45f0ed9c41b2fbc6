"""The fast path answers exactly as FastAPI's own routing does, and is taken for the hot routes."""

from __future__ import annotations

import httpx
import orjson
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.http.fastpath import FastPath
from tests.support.live import serve
from tests.support.secrets import KEY_A

CASES = [
    ("POST", "/api/generate", b'{"prompt": "hi"}'),
    ("POST", "/api/generate", b'{"model": "missing", "prompt": "hi"}'),
    ("POST", "/api/generate", b'{"model": "busy", "prompt": "hi"}'),
    ("POST", "/api/generate", b"{not json"),
    ("POST", "/api/generate", b'{"prompt": "x", "options": {"temperature": "hot"}}'),
    ("POST", "/api/generate", b'{"prompt": "hi", "stream": true}'),
    ("POST", "/api/chat", b'{"messages": [{"role": "user", "content": "hi"}], "stream": false}'),
    ("POST", "/api/chat", b'{"model": "drop", "messages": []}'),
    ("GET", "/health", b""),
    ("GET", "/", b""),
]
VARYING = {"created_at", "elapsed_time"}


def _normal(reply: httpx.Response) -> tuple:
    lines = []
    for line in reply.content.splitlines():
        data = orjson.loads(line)
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in VARYING}
        lines.append(data)
    varying = ("date", "x-request-id", "content-length")  # elapsed_time's digits vary
    headers = sorted((k, v) for k, v in reply.headers.items() if k not in varying)
    return reply.status_code, lines, headers


def _replies(make_settings, ollama, fast: bool, monkeypatch) -> list[tuple]:
    if not fast:
        monkeypatch.setattr(FastPath, "_build", lambda self: {})
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY_A)
    out = []
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        for method, path, body in CASES:
            reply = client.request(method, path, content=body, headers={"X-API-KEY": KEY_A})
            out.append(_normal(reply))
    return out


def test_fast_path_replies_are_identical_to_fastapi_routing(make_settings, ollama, monkeypatch):
    fast = _replies(make_settings, ollama, True, monkeypatch)
    with pytest.MonkeyPatch.context() as patch:
        slow = _replies(make_settings, ollama, False, patch)
    assert fast == slow
    assert [status for status, _, _ in fast] == [200, 404, 503, 400, 400, 200, 200, 200, 200, 200]


def test_the_hot_routes_are_on_the_fast_path(make_settings):
    app = create_app(make_settings())
    table = FastPath(None, app)._build()
    assert {("POST", "/api/generate"), ("POST", "/api/chat"), ("GET", "/health")} <= set(table)
