"""``ollama-gateway serve`` on the packaged real model (SmolLM2-135M-Instruct as ``smollm2:135m``),
as a user starts it; for the real-inference tier and for the peer suites in CI.

The settings that make its output comparable with llama.cpp's own ``llama-server`` (same
threads, one sequence per context, batch size, no flash attention: the engine's default) are
in :data:`ENGINE_FLAGS` / :data:`LLAMA_SERVER_FLAGS`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live import wait_ready
from tests.support.processes import start_serve

MODEL = "smollm2:135m"
# One thread: on a machine busier than its cores (CI runners, shared hosts), llama.cpp's threads
# wait for each other at every graph node and a 40-token answer can take minutes; one thread
# decodes this 135M model at tens of tokens per second.
THREADS = "1"
CTX = "2048"
ENGINE_FLAGS = ("--num-ctx", CTX, "--num-threads", THREADS, "--num-batch", "512")
LLAMA_SERVER_FLAGS = ("--jinja", "-c", CTX, "-np", "1", "-t", THREADS, "-tb", THREADS)
LLAMA_SERVER_FLAGS += ("-b", "512", "-ub", "512", "-fa", "off", "--no-warmup")


@contextmanager
def smollm2_gateway(
    workdir: Path, *extra: str, key: str | None = None, parallel: int = 1
) -> Iterator[str]:
    """A keyed (unless ``key`` is None) gateway serving ``smollm2:135m`` from a fresh store in
    ``workdir``; yields its URL once the model is loaded. Its log is ``workdir/gateway.log`` and
    is checked, on the way out, not to hold the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA", "API_KEY"))}
    env["OLLAMA_GATEWAY_DATA_DIR"] = str(workdir / "data")  # never the user's home
    if key is not None:
        env["OLLAMA_GATEWAY_API_KEYS"] = key
    log_path = workdir / "gateway.log"
    args = ["--backend", "embedded", "--model", MODEL, "--models-dir", str(workdir / "models")]
    args += [*ENGINE_FLAGS, "--parallel", str(parallel), *extra]
    with open(log_path, "wb") as log:
        process, url = start_serve(
            *args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, timeout=300
        )
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else None
        wait_ready(url, timeout=300, headers=headers)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if key is not None:
        assert key not in log_path.read_text(errors="replace"), "the key was logged"
