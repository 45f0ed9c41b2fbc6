"""Live gateways for the API tests: in front of the fake Ollama, or of a scripted backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import orjson
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings
from tests.support.live import serve
from tests.support.scripted import ScriptedBackend


@pytest.fixture(scope="module")
def gateway(fake_ollama, clean_env) -> Iterator[str]:
    """One live gateway for the module, in front of the shared fake Ollama (which the ``ollama``
    fixture resets for each test); a test that needs other settings starts its own."""
    with clean_env():
        settings = Settings(
            _env_file=None, backend="ollama", ollama_url=fake_ollama.url, first_token_timeout=5
        )
        with serve(create_app(settings)) as url:
            yield url


@pytest.fixture
def scripted(make_settings) -> Callable:
    """``with scripted(backend) as url``: a live gateway in front of a scripted backend."""

    @contextmanager
    def run(backend: ScriptedBackend, **settings) -> Iterator[str]:
        with serve(create_app(make_settings(**settings), backend=backend)) as url:
            yield url

    return run


def ndjson(response: httpx.Response) -> list[dict]:
    assert response.text.endswith("\n")
    return [orjson.loads(line) for line in response.text.split("\n")[:-1]]


def sse(response: httpx.Response) -> list[dict | str]:
    """The events of an SSE body; checks the framing (``data: ...`` blocks, ``[DONE]`` last)."""
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.endswith("data: [DONE]\n\n")
    events = text.split("\n\n")
    assert events[-1] == ""
    out: list[dict | str] = []
    for event in events[:-1]:
        assert event.startswith("data: ") and "\n" not in event, event
        data = event[len("data: ") :]
        out.append(data if data == "[DONE]" else orjson.loads(data))
    assert out.count("[DONE]") == 1
    return out
