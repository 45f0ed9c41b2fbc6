"""SIGTERM on a real ``ollama-gateway serve`` process: drain, refuse, exit 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time

import httpx
import orjson
import pytest

from tests.core.http_helpers import until
from tests.support.processes import start_serve


def _start(upstream_url: str, grace: float, workers: int = 1) -> tuple[subprocess.Popen, str]:
    return start_serve(
        *("--ollama-url", upstream_url, "--backend", "ollama", "--shutdown-grace", str(grace)),
        *("--parallel", "4", "--workers", str(workers)),
    )


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
        thread.join(60)
        code = proc.wait(60)  # liveness bounds, generous for a loaded machine
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=60)[0].decode()
    assert code == 0, output
    assert lines[0] == 200
    assert "".join(line["response"] for line in lines[1:]) == "Hello, world!"
    assert lines[-1]["done"] is True


def _sse_in_thread(url: str, body: dict, out: list) -> threading.Thread:
    def run() -> None:
        try:
            with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=30) as r:
                out.append(r.status_code)
                for line in r.iter_lines():
                    if line:
                        out.append(line)
        except httpx.HTTPError as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _post_in_thread(url: str, body: dict, out: list) -> threading.Thread:
    def run() -> None:
        try:
            out.append(httpx.post(url + "/api/generate", json=body, timeout=30))
        except httpx.HTTPError as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_sigterm_ends_what_outlives_the_grace_period_in_band(upstream):
    """Streams still running when the grace period ends get their API's in-band error and end
    (not a truncated body); a request still waiting answers 503."""
    upstream.script("trickle", trickle=0.3)
    proc, url = _start(upstream.url, grace=1)
    try:
        ndjson: list = []
        sse: list = []
        waiting: list = []
        threads = [
            _stream_in_thread(url, {"model": "trickle", "prompt": "x", "stream": True}, ndjson),
            _sse_in_thread(
                url,
                {
                    "model": "trickle",
                    "stream": True,
                    "messages": [{"role": "user", "content": "x"}],
                },
                sse,
            ),
            _post_in_thread(url, {"model": "hold", "prompt": "x", "stream": False}, waiting),
        ]
        await until(lambda: len(ndjson) >= 2 and len(sse) >= 2, "the streams to start")
        await until(lambda: upstream.held == 1, "the non-streamed request to wait")
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        took = time.monotonic() - signalled
        for thread in threads:
            thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=10)[0].decode()
    assert code == 0, output
    assert took >= 1.0  # it did wait for the streams during the grace period
    assert not any(thread.is_alive() for thread in threads)  # every client saw its end
    assert ndjson[0] == 200
    assert all(line["response"] == "x" for line in ndjson[1:-1])
    assert ndjson[-1] == {"error": "the server is shutting down; the request was stopped"}
    assert sse[0] == 200
    assert sse[-1] == "data: [DONE]"
    assert orjson.loads(sse[-2].removeprefix("data: "))["error"] == {
        "message": "the server is shutting down; the request was stopped",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    [reply] = waiting
    assert reply.status_code == 503
    assert reply.json()["detail"] == "the server is shutting down; the request was stopped"
    assert "Exception in ASGI application" not in output
    await until(lambda: upstream.disconnects >= 2, "the upstream streams to be closed")
