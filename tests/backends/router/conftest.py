"""Fleets for the router tests: fake Ollama servers (one per name) and a live gateway over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from ollama_gateway.app import create_app
from ollama_gateway.backends.router.backend import RouterBackend
from ollama_gateway.settings import Settings
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.live import LiveServer


class Fleet:
    """A live gateway in front of some upstreams; ``router`` is its RouterBackend."""

    def __init__(self, url: str, router: RouterBackend, settings: Settings) -> None:
        self.url = url
        self.router = router
        self.settings = settings

    def upstream(self, name: str):
        return self.router.registry.by_name[name]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeOllama]]:
    servers = {name: FakeOllama() for name in ("a", "b", "c")}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def ollamas(fakes) -> dict[str, FakeOllama]:
    for server in fakes.values():
        server.reset()
        server.models = ["deepseek-r1:1.5b", "llama2:latest"]
        server.loaded = None
        server.token_delay = 0.0
    return fakes


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def vllm(openai_server) -> FakeOpenAI:
    openai_server.requests.clear()
    openai_server.script = Script()
    openai_server.api_key = None
    return openai_server


@pytest.fixture
def fleet() -> Callable:
    """``with fleet(upstreams, **settings) as f``: a gateway over those upstreams."""

    @contextmanager
    def run(upstreams: list, resolver=None, **values) -> Iterator[Fleet]:
        values.setdefault("health_interval", 0.5)
        values.setdefault("connect_timeout", 1.0)
        values.setdefault("first_token_timeout", 5.0)
        settings = Settings(_env_file=None, upstreams=upstreams, **values)
        router = RouterBackend(settings, resolver=resolver)
        server = LiveServer(create_app(settings, backend=router))
        url = server.start()
        try:
            yield Fleet(url, router, settings)
        finally:
            server.stop()

    return run
