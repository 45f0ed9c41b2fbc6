"""The real gateway (``create_app``) on a loopback port, in front of the fake Ollama."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.live import serve
from tests.support.secrets import KEY_A, WRONG_KEY

KEY = KEY_A
BAD_KEY = WRONG_KEY


@contextmanager
def running_gateway(ollama_url: str, keys_file: Path | None = None) -> Iterator[str]:
    """Yield the URL of a gateway that accepts :data:`KEY` (and the keys file's keys)."""
    from ollama_gateway.app import create_app
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        backend="ollama",
        ollama_url=ollama_url,
        api_keys=KEY,
        keys_file=keys_file,
    )
    with serve(create_app(settings)) as url:
        yield url


@contextmanager
def running_embedded_gateway(model_path: Path, store: Path) -> Iterator[str]:
    """A gateway running real llama.cpp inference on ``model_path`` (its default model)."""
    from ollama_gateway.app import create_app
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        backend="embedded",
        model=str(model_path),
        models_dir=store,
        api_keys=KEY,
        num_ctx=512,
        parallel=2,
        num_threads=1,
        pull_on_start=False,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.gguf_models import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny.gguf", n_ctx=512)


@pytest.fixture(scope="session")
def engine_gateway(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_embedded_gateway(tiny_model, tmp_path_factory.mktemp("store")) as url:
        yield url
