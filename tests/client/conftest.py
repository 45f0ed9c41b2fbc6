from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.client.adapters import APIS
from tests.client.gateway import engine_gateway, running_gateway, tiny_model


@pytest.fixture(params=sorted(APIS))
async def make_api(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """Build the sync or the async client (the test runs once with each)."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 5.0)
        api = APIS[request.param](**kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()


@pytest.fixture(scope="module")
def gateway(fake_ollama, clean_env) -> Iterator[str]:
    """A live gateway in front of the fake Ollama, shared by the module (the ``ollama`` fixture
    resets the fake for each test); it accepts ``tests.client.gateway.KEY``."""
    with clean_env(), running_gateway(fake_ollama.url) as url:
        yield url


__all__ = ["engine_gateway", "tiny_model"]  # fixtures shared with the other test package
