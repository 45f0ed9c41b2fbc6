"""Model names in front of Ollama: a name that is not a model name (a path above all) is a 400
in each API's shape, and never reaches the upstream."""

from __future__ import annotations

import httpx
import pytest

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("method", "path", "body", "shape"),
    [
        ("POST", "/api/generate", {"prompt": "hi"}, "seed"),
        ("POST", "/api/chat", {"messages": MESSAGES}, "ollama"),
        ("POST", "/api/embed", {"input": "hi"}, "ollama"),
        ("POST", "/api/show", {}, "ollama"),
        ("POST", "/api/pull", {"stream": False}, "ollama"),
        ("DELETE", "/api/delete", {}, "ollama"),
        ("POST", "/v1/chat/completions", {"messages": MESSAGES}, "openai"),
        ("POST", "/v1/completions", {"prompt": "hi"}, "openai"),
        ("POST", "/v1/embeddings", {"input": "hi"}, "openai"),
    ],
)
@pytest.mark.parametrize("name", ["/etc/passwd", "../../m.gguf", "a\nb", "x" * 5000])
def test_an_invalid_name_never_reaches_ollama(gateway, ollama, method, path, body, shape, name):
    reply = httpx.request(method, gateway + path, json={**body, "model": name}, timeout=10)
    assert reply.status_code == 400
    data = reply.json()
    if shape == "openai":
        message = data["error"]["message"]
        assert data["error"]["type"] == "invalid_request_error"
    elif shape == "seed":
        message = data["detail"]
        assert data == {"detail": message, "error": message}
    else:
        message = data["error"]
        assert data == {"error": message}
    assert message.startswith("invalid model name")
    assert len(message) < 400  # a long name comes back clipped
    assert ollama.requests == []  # decided here: Ollama never saw it


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/generate", {"prompt": "hi", "keep_alive": "x" * 900_000}),
        ("/api/chat", {"messages": [{"role": "r" * 900_000, "content": "hi"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "r" * 900_000, "content": "hi"}]}),
        ("/api/show", {"model": "m" * 900_000}),
    ],
)
def test_client_text_in_an_error_comes_back_clipped(gateway, ollama, path, body):
    reply = httpx.post(gateway + path, json=body, timeout=10)
    assert reply.status_code == 400
    assert len(reply.content) < 1000  # not the 900 KB sent
    assert ollama.requests == []
