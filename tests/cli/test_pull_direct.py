"""``ollama-gateway pull --direct``: straight from a registry into the local model store."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ollama_gateway.models.store import ModelStore
from tests.support.registry_server import RegistryServer

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB that stands in for a GGUF file


@contextmanager
def registry_in_a_thread() -> Iterator[RegistryServer]:
    """The test registry on its own event loop, so the command can run ``asyncio.run``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    registry = RegistryServer(chunk_size=64 * 1024)
    try:
        asyncio.run_coroutine_threadsafe(registry.start(), loop).result(10)
        yield registry
    finally:
        asyncio.run_coroutine_threadsafe(registry.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with registry_in_a_thread() as server:
        server.add_model("library", "tiny", "latest", model=WEIGHTS, template="{{ .Prompt }}")
        yield server


def test_pull_direct_fills_the_store_with_a_progress_bar(cli, registry, tmp_path):
    args = ("pull", "--direct", "--models-dir", str(tmp_path), "--registry", registry.url)
    result = cli(*args, "tiny", key=None)
    assert result.exit_code == 0, result.output
    assert result.stdout == "success\n"
    lines = result.stderr.splitlines()
    assert lines[:3] == ["pulling manifest", "verifying sha256 digest", "writing manifest"]
    digest = "sha256:" + hashlib.sha256(WEIGHTS).hexdigest()
    bars = [line for line in lines if line.startswith(f"pulling {digest[7:19]}")]
    assert len(bars) == 1 and "1.0/1.0 MB" in bars[0]
    resolved = ModelStore(tmp_path).resolve("tiny")
    assert resolved.model_path.read_bytes() == WEIGHTS


def test_pull_direct_of_an_unknown_model_is_one_line_and_exit_1(cli, registry, tmp_path):
    args = ("pull", "--direct", "--models-dir", str(tmp_path), "--registry", registry.url)
    result = cli(*args, "nope", key=None)
    assert result.exit_code == 1
    assert result.stderr.startswith("pulling manifest\n") or result.stderr.startswith("Error")
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "nope" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.output


def test_pull_direct_from_an_unreachable_registry_is_exit_1(cli, tmp_path):
    args = ("pull", "--direct", "--models-dir", str(tmp_path), "--registry", "http://127.0.0.1:9")
    result = cli(*args, "tiny", key=None)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.output


def test_pull_direct_takes_the_store_and_registry_from_the_environment(cli, registry, tmp_path):
    """As the embedded image runs it: ``OLLAMA_MODELS=/models ollama-gateway pull --direct``."""
    env = {"OLLAMA_MODELS": str(tmp_path), "OLLAMA_GATEWAY_REGISTRY_URL": registry.url}
    result = cli("pull", "--direct", "tiny", key=None, env=env)
    assert result.exit_code == 0, result.output
    assert ModelStore(tmp_path).resolve("tiny").model_path.read_bytes() == WEIGHTS
