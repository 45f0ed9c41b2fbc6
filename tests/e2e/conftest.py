"""End-to-end tier: real ``ollama-gateway serve`` processes that the official clients talk to.

Three modes, each a :class:`Target`:

- ``proxied``: the gateway in ollama-backend mode in front of the fake Ollama;
- ``embedded``: the gateway with the embedded llama.cpp engine, real inference on a tiny
  generated model that it pulled on start from a loopback registry;
- ``upstream``: the gateway in ollama-backend mode in front of a second gateway in embedded mode
  (which speaks Ollama's API), so the proxy path runs real inference end to end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.fake_ollama import CAPABLE_MODELS, FakeOllama
from tests.support.processes import start_serve
from tests.support.registry_server import RegistryServer
from tests.support.secrets import KEY_A


@contextmanager
def gateway_process(tmp_path: Path, *args: str, key: str | None = KEY_A) -> Iterator[str]:
    """``ollama-gateway serve ARGS`` on a free loopback port, keyed unless ``key`` is None;
    yields its URL. Its log goes to a file that is checked, on the way out, for the key.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA")}
    env["OLLAMA_GATEWAY_DATA_DIR"] = str(tmp_path / "data")  # never the user's home
    if key is not None:
        env["OLLAMA_GATEWAY_API_KEYS"] = key
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        process, url = start_serve(
            *args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, timeout=60
        )
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if key is not None:
        assert key not in log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeOllama]:
    server = FakeOllama(behaviours=CAPABLE_MODELS, models=["deepseek-r1:1.5b", "llama2:latest"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxied(fake_upstream, tmp_path_factory) -> Iterator[str]:
    """Mode (a): the gateway in ollama-backend mode in front of the fake Ollama."""
    tmp = tmp_path_factory.mktemp("proxied")
    with gateway_process(tmp, "--backend", "ollama", "--ollama-url", fake_upstream.url) as url:
        yield url


class Target:
    """A live gateway and what the tests may expect of it."""

    def __init__(self, url: str, model: str, mode: str, expected_text: str | None) -> None:
        self.url = url
        self.model = model
        self.mode = mode
        self.expected_text = expected_text  # None: real inference, the text is not known
        self.missing = "missing" if mode == "proxied" else "no-such-model:1b"

    def __repr__(self) -> str:
        return f"Target({self.mode})"


# A chat template that ends the prompt inside the reasoning unless thinking is off, like
# DeepSeek-R1-Distill's (whose real template needs the shared tokenizer files).
THINKING_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|><think>\\n' }}"
    "{% if not enable_thinking %}{{ '</think>' }}{% endif %}{% endif %}"
)


class ThreadedRegistry:
    """The loopback registry test server, run on its own event loop in a thread."""

    def __init__(self) -> None:
        self.server = RegistryServer()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Iterator[RegistryServer]:
    """A registry holding a tiny generated model as ``tiny:latest`` and ``e2e-pulled:1b``, and
    ``thinky:latest``, whose chat template opens ``<think>`` as DeepSeek-R1's does."""
    from tests.support.gguf_models import write_tiny_llama

    tmp = tmp_path_factory.mktemp("gguf")
    data = write_tiny_llama(tmp / "tiny.gguf", seed=3).read_bytes()
    thinky = write_tiny_llama(tmp / "thinky.gguf", seed=3, chat_template=THINKING_TEMPLATE)
    with ThreadedRegistry() as server:
        server.add_model("library", "tiny", "latest", model=data)
        server.add_model("library", "e2e-pulled", "1b", model=data)
        server.add_model("library", "thinky", "latest", model=thinky.read_bytes())
        yield server


def _embedded_args(tmp: Path, registry: RegistryServer) -> list[str]:
    return [
        "--backend",
        "embedded",
        "--model",
        "tiny:latest",
        "--models-dir",
        str(tmp / "models"),
        "--registry-url",
        registry.url,
        "--pull-allow-private",  # the loopback stand-in: pulls refuse internal hosts otherwise
        "127.0.0.1",
        "--num-ctx",
        "512",
        "--parallel",
        "2",
    ]


@pytest.fixture(scope="session")
def embedded(registry, tmp_path_factory) -> Iterator[str]:
    """Mode (b): the embedded engine, keyed, its default model pulled on start."""
    tmp = tmp_path_factory.mktemp("embedded")
    with gateway_process(tmp, *_embedded_args(tmp, registry)) as url:
        yield url


@pytest.fixture(scope="session")
def upstream(registry, tmp_path_factory) -> Iterator[str]:
    """Upstream mode: a keyed ollama-backend gateway in front of a keyless embedded one."""
    inner = tmp_path_factory.mktemp("inner")
    outer = tmp_path_factory.mktemp("outer")
    with (
        gateway_process(inner, *_embedded_args(inner, registry), key=None) as inner_url,
        gateway_process(
            outer, "--backend", "ollama", "--ollama-url", inner_url, "--model", "tiny:latest"
        ) as url,
    ):
        yield url


# The embedded and upstream targets run llama.cpp: they belong to the slow tier.
_LLAMA = pytest.mark.slow


@pytest.fixture(
    params=[
        "proxied",
        pytest.param("embedded", marks=_LLAMA),
        pytest.param("upstream", marks=_LLAMA),
    ]
)
def target(request) -> Target:
    url = request.getfixturevalue(request.param)
    if request.param == "proxied":
        return Target(url, "llama2:latest", "proxied", "Hello, world!")
    return Target(url, "tiny:latest", request.param, None)
