"""Real ``ollama-gateway serve`` processes for tests: a free port, the start, the health wait."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(
    *args: str,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.STDOUT,
    cwd: str | Path | None = None,
    timeout: float = 90.0,  # a loaded 2-core machine can take half a minute to import it all
) -> tuple[subprocess.Popen, str]:
    """``python -m ollama_gateway serve --port P ARGS`` with this checkout's code on the path;
    returns the process and its URL once ``/health`` answers (or fails with what it printed)."""
    port = free_port()
    full_env = {**(os.environ if env is None else env), "PYTHONPATH": SRC}
    command = [sys.executable, "-m", "ollama_gateway", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(command, env=full_env, stdout=stdout, stderr=stderr, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            printed = b"".join(part for part in (out, err) if part).decode(errors="replace")
            raise AssertionError(f"serve did not start: {printed[-2000:]}")
        time.sleep(0.05)
