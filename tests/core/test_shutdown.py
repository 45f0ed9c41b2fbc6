"""SIGTERM on a real ``ollama-gateway serve`` process: drain, refuse, exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.core.http_helpers import until

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(upstream_url: str, grace: float, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    command = [sys.executable, "-m", "ollama_gateway", "serve", "--port", str(port)]
    command += ["--ollama-url", upstream_url, "--backend", "ollama"]
    command += ["--shutdown-grace", str(grace), "--parallel", "4", "--workers", str(workers)]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate(timeout=10)[0].decode())
        time.sleep(0.05)


def _stream_in_thread(url: str, body: dict, out: list) -> threading.Thread:
    def run() -> None:
        try:
            with httpx.stream("POST", url + "/api/generate", json=body, timeout=30) as reply:
                out.append(reply.status_code)
                for line in reply.iter_lines():
                    if line:
                        out.append(orjson.loads(line))
        except httpx.HTTPError as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/health", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_finishes_streams_in_flight_refuses_new_ones_and_exits_0(upstream, workers):
    proc, url = _start(upstream.url, grace=20, workers=workers)
    try:
        lines: list = []
        thread = _stream_in_thread(url, {"model": "hold", "prompt": "in-flight"}, lines)
        await until(lambda: upstream.held == 1, "the stream to start")
        proc.send_signal(signal.SIGTERM)
        if workers == 1:
            await until(lambda: _refused(url), "new connections to be refused")
        else:  # uvicorn's supervisor keeps the shared socket open: new connections wait instead
            await asyncio.sleep(1)
        assert proc.poll() is None  # still draining the stream in flight
        upstream.release_held()
        thread.join(15)
        code = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=10)[0].decode()
    assert code == 0, output
    assert lines[0] == 200
    assert "".join(line["response"] for line in lines[1:]) == "Hello, world!"
    assert lines[-1]["done"] is True


async def test_sigterm_cancels_a_never_ending_stream_after_the_grace_period(upstream):
    proc, url = _start(upstream.url, grace=1)
    try:
        lines: list = []
        thread = _stream_in_thread(url, {"model": "trickle", "prompt": "x", "stream": True}, lines)
        await until(lambda: len(lines) >= 2, "the stream to start")
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        took = time.monotonic() - signalled
        thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=10)[0].decode()
    assert code == 0, output
    assert took >= 1.0  # it did wait for the stream during the grace period
    assert not thread.is_alive()  # the client saw its stream end
    await until(lambda: upstream.disconnects >= 1, "the upstream stream to be closed")
