from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ollama_gateway.cli import main
from tests.client.gateway import KEY, engine_gateway, running_gateway, tiny_model


@pytest.fixture(scope="module")
def gateway(fake_ollama, clean_env) -> Iterator[str]:
    """A live gateway in front of the fake Ollama, shared by the module (the ``ollama`` fixture
    resets the fake for each test); it accepts ``tests.client.gateway.KEY``."""
    with clean_env(), running_gateway(fake_ollama.url) as url:
        yield url


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``ollama-gateway ARGS`` in-process; ``url``/``key`` go in through the environment."""

    def run(*args: str, url: str | None = None, key: str | None = KEY, **kwargs: Any) -> Result:
        env = kwargs.pop("env", {})
        if url is not None:
            env["OLLAMA_GATEWAY_URL"] = url
        if key is not None:
            env["OLLAMA_GATEWAY_API_KEY"] = key
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, **kwargs)

    return run


__all__ = ["engine_gateway", "tiny_model"]  # fixtures shared with the other test package
