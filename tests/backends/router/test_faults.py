"""Faults under load: an upstream killed under 16 concurrent clients, one that hangs.

The upstreams are fake Ollama servers in their own processes, so that killing one (SIGKILL)
resets its connections as a crashed server's would.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
CHAT = {"model": "deepseek-r1:1.5b", "messages": [{"role": "user", "content": "Hi"}]}


def start_fake(port: int, token_delay: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.support.fake_ollama", str(port), str(token_delay)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "fake did not start"
            time.sleep(0.05)


@contextmanager
def fakes(count: int, token_delay: float) -> Iterator[list[tuple[int, subprocess.Popen]]]:
    running = []
    for _ in range(count):
        port = free_port()
        running.append((port, start_fake(port, token_delay)))
    try:
        yield running
    finally:
        for _, proc in running:
            proc.kill()
            proc.wait(10)


async def until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


class Outcome:
    def __init__(self, status: int, lines: list[dict]) -> None:
        self.status = status
        self.lines = lines

    @property
    def error_at(self) -> int | None:
        found = [i for i, line in enumerate(self.lines) if "error" in line]
        return found[0] if found else None


async def chat_stream(client: httpx.AsyncClient, url: str) -> Outcome:
    async with client.stream("POST", f"{url}/api/chat", json={**CHAT, "stream": True}) as r:
        lines = [orjson.loads(line) async for line in r.aiter_lines() if line]
        return Outcome(r.status_code, lines)


async def test_killing_one_of_three_under_16_clients(fleet):
    with fakes(3, token_delay=0.04) as servers:
        upstreams = [
            {"name": n, "url": f"http://127.0.0.1:{p}"}
            for n, (p, _) in zip("abc", servers, strict=True)
        ]
        with fleet(upstreams, parallel=8, health_interval=0.5) as f:
            b = f.upstream("b")
            outcomes: list[Outcome] = []
            stop = asyncio.Event()

            async def client_loop(client: httpx.AsyncClient) -> None:
                while not stop.is_set():
                    outcomes.append(await chat_stream(client, f.url))

            async with httpx.AsyncClient(timeout=60) as client:
                load = [asyncio.create_task(client_loop(client)) for _ in range(16)]
                await until(lambda: len(outcomes) >= 32 and b.in_flight >= 2)
                port, proc = servers[1]
                proc.kill()  # mid-stream for the requests b is serving
                await asyncio.to_thread(proc.wait, 10)  # the clients' loop keeps running
                await until(lambda: not b.routable)
                served = len(outcomes)
                await until(lambda: len(outcomes) >= served + 48)  # the fleet works on without b
                servers[1] = (port, await asyncio.to_thread(start_fake, port, 0.04))
                rounds = f.router.poller.health_rounds
                await until(lambda: b.routable)
                rejoined_after = f.router.poller.health_rounds - rounds
                await until(lambda: b.in_flight > 0)  # and gets requests again
                stop.set()
                await asyncio.gather(*load)

    assert rejoined_after <= 2  # the next health check after its return let it back in
    assert {o.status for o in outcomes} == {200}  # no request failed before its first byte
    broken = [o for o in outcomes if o.error_at is not None]
    for outcome in broken:  # a stream that had begun ends with an in-band error, last
        assert outcome.error_at == len(outcome.lines) - 1 >= 1
        assert "message" in outcome.lines[0]
    whole = [o for o in outcomes if o.error_at is None]
    assert all(
        "".join(line["message"]["content"] for line in o.lines) == "Hello, world!"
        and o.lines[-1]["done"]
        for o in whole
    )
    assert len(whole) > 100 and len(broken) < 16


async def test_a_stream_that_began_ends_in_band_when_its_upstream_dies(fleet):
    with fakes(1, token_delay=1.0) as servers:
        ((port, proc),) = servers
        with fleet([{"name": "only", "url": f"http://127.0.0.1:{port}"}]) as f:
            async with (
                httpx.AsyncClient(timeout=60) as client,
                client.stream("POST", f"{f.url}/api/chat", json={**CHAT, "stream": True}) as r,
            ):
                lines = r.aiter_lines()
                first = orjson.loads(await anext(lines))
                proc.kill()
                rest = [orjson.loads(line) async for line in lines if line]
    assert r.status_code == 200 and first["message"]["content"] == "Hello"
    assert rest == [{"error": "Ollama closed the connection mid-stream"}]


async def test_a_hanging_upstream_is_ejected_by_the_first_token_timeout(fleet, ollamas):
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(64)  # accepts connections (in the kernel) and never answers
    port = hanging.getsockname()[1]
    healthy = ollamas["a"]
    upstreams = [
        {"name": "hangs", "url": f"http://127.0.0.1:{port}", "models": ["deepseek-r1:1.5b"]},
        {"name": "ok", "url": healthy.url},
    ]
    try:
        with fleet(
            upstreams, first_token_timeout=0.5, routing="round_robin", health_interval=60
        ) as f:
            async with httpx.AsyncClient(timeout=60) as client:
                replies = [
                    await client.post(f"{f.url}/api/chat", json={**CHAT, "stream": False})
                    for _ in range(4)
                ]
            assert [r.status_code for r in replies] == [200] * 4
            assert f.upstream("hangs").breaker.state.name == "OPEN"
            metrics = httpx.get(f"{f.url}/metrics").text
    finally:
        hanging.close()
    assert 'upstream_requests_total{status="timeout",upstream="hangs"} 1.0' in metrics
    assert 'upstream_requests_total{status="ok",upstream="ok"} 4.0' in metrics
