"""The real gateway (``create_app``) on a loopback port, in front of the fake Ollama."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
