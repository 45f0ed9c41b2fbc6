"""The default model loads when the embedded backend starts; readiness follows the load."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ollama_gateway.backends.llama_cpp.backend import EmbeddedBackend
from tests.support.processes import SRC, free_port


async def test_default_model_is_loaded_at_start_and_ready_follows(
    make_settings, tiny_path, tmp_path
):
    backend = EmbeddedBackend(make_settings(model=str(tiny_path), models_dir=tmp_path, parallel=1))
    await backend.start()
    try:
        ready, reason = await backend.check_ready()
        assert (ready, reason) == (False, 'model "tiny:latest" is loading')
        await backend._warmup
        ready, reason = await backend.check_ready()
        assert ready, reason
        assert [m.name for m in await backend.running()] == ["tiny:latest"]  # no request needed
    finally:
        await backend.close()


async def test_missing_default_model_is_not_ready(make_settings, tmp_path):
    backend = EmbeddedBackend(make_settings(model="nothere:latest", models_dir=tmp_path))
    await backend.start()
    try:
        await backend._warmup
        ready, reason = await backend.check_ready()
        assert not ready
        assert 'model "nothere:latest" not found' in reason
    finally:
        await backend.close()


def _serve_embedded(model: str, store: Path) -> subprocess.Popen:
    command = [
        *(sys.executable, "-m", "ollama_gateway", "serve", "--backend", "embedded"),
        *("--model", model, "--models-dir", str(store), "--port", str(free_port())),
        *("--num-threads", "1", "--num-ctx", "512"),
    ]
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_default_model_that_fails_to_load_stops_the_server(tiny_path, tmp_path):
    odd = tmp_path / "odd.gguf"  # a readable GGUF header, an architecture llama.cpp lacks
    odd.write_bytes(tiny_path.read_bytes().replace(b"llama", b"llamb", 1))
    proc = _serve_embedded(str(odd), tmp_path / "store")
    try:
        out = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out  # not a server whose /ready says "loading" for ever
    assert 'default model "odd:latest" cannot be loaded' in out
    assert "llamb" in out  # the reason
    assert "Traceback" not in out


def test_a_file_that_is_no_gguf_model_stops_serve_before_it_starts(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model" * 10)
    proc = _serve_embedded(str(bad), tmp_path / "store")
    try:
        out = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert f"model file {bad} is not a GGUF model" in out
    assert "Traceback" not in out


def test_a_loading_default_model_is_loading_then_ready(tiny_path, tmp_path):
    proc = _serve_embedded(str(tiny_path), tmp_path / "store")
    url = f"http://127.0.0.1:{proc.args[proc.args.index('--port') + 1]}"
    try:
        seen = []
        deadline = time.monotonic() + 60
        while not seen or seen[-1] != "ready":
            assert time.monotonic() < deadline, seen
            try:
                seen.append(httpx.get(url + "/ready", timeout=2).json()["status"])
            except httpx.TransportError:
                assert proc.poll() is None
            time.sleep(0.02)
        assert set(seen) <= {"loading", "ready"}
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
