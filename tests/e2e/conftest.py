"""End-to-end tier: real ``ollama-gateway serve`` processes that the official clients talk to.

Mode (a), always: the gateway in ollama-backend mode in front of the fake Ollama.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.fake_ollama import FakeOllama
from tests.support.secrets import KEY_A

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gateway_process(tmp_path: Path, *args: str, key: str = KEY_A) -> Iterator[str]:
    """``ollama-gateway serve ARGS`` on a free loopback port, keyed; yields its URL.

    Its log goes to a file that is checked, on the way out, for the key.
    """
    port = free_port()
    log_path = tmp_path / f"gateway-{port}.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OLLAMA")},
        "PYTHONPATH": SRC,
        "OLLAMA_GATEWAY_API_KEYS": key,
    }
    command = [sys.executable, "-m", "ollama_gateway", "serve", "--port", str(port), *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    assert key not in log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeOllama]:
    server = FakeOllama(delay=0.3, models=["deepseek-r1:1.5b", "llama2:latest"])
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


@pytest.fixture(params=["proxied"])
def target(request) -> Target:
    if request.param == "proxied":
        url = request.getfixturevalue("proxied")
        return Target(url, "llama2:latest", "proxied", "Hello, world!")
    raise AssertionError(request.param)
