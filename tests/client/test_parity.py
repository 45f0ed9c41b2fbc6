"""``Client`` and ``AsyncClient`` offer the same methods, with the same parameters."""

from __future__ import annotations

import inspect

from ollama_gateway.client import AsyncClient, Client
from tests.support.fake_ollama import FakeOllama, Reply

PUBLIC = {"generate", "chat", "pull", "embed", "list", "ps", "show", "delete", "copy", "version"}
PUBLIC |= {"create", "create_blob"}


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_") and name != "close"
    }


def test_same_methods_and_parameters():
    sync, asynchronous = _public(Client), _public(AsyncClient)
    assert set(sync) == set(asynchronous) == PUBLIC
    for name in PUBLIC:
        assert sync[name].parameters == asynchronous[name].parameters, name
        sync_return = str(sync[name].return_annotation)
        assert sync_return == asynchronous[name].return_annotation.replace(
            "AsyncIterator", "Iterator"
        )
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
    assert inspect.signature(Client.__init__) == inspect.signature(AsyncClient.__init__)


async def test_same_requests_and_same_results(standin: FakeOllama):
    """Both clients send byte-identical bodies and build equal objects from one script."""
    lines = [
        {"model": "m", "response": "a", "done": False},
        {"model": "m", "response": "b", "done": True, "eval_count": 2},
    ]
    for _ in range(2):
        standin.queue("POST", "/api/generate", Reply(body={"generated_text": "x", "model": "m"}))
        standin.queue("POST", "/api/generate", Reply(body=lines))
        standin.queue("GET", "/api/tags", Reply(body={"models": [{"name": "m", "size": 1}]}))

    with Client(standin.url, api_key="key-123", timeout=5) as client:
        sync_results = [
            client.generate("p", "m", think=False),
            list(client.generate("p", stream=True)),
            client.list(),
        ]
    async with AsyncClient(standin.url, api_key="key-123", timeout=5) as aclient:
        async_results = [
            await aclient.generate("p", "m", think=False),
            [c async for c in await aclient.generate("p", stream=True)],
            await aclient.list(),
        ]

    assert sync_results == async_results
    first, second = standin.requests[:3], standin.requests[3:]
    assert [(s.method, s.path, s.body) for s in first] == [
        (s.method, s.path, s.body) for s in second
    ]
    strip = {"Host", "User-Agent", "Content-Length"}
    assert [{k: v for k, v in s.headers.items() if k not in strip} for s in first] == [
        {k: v for k, v in s.headers.items() if k not in strip} for s in second
    ]
