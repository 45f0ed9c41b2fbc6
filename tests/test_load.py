"""Overload, bounded: ten times more clients than slots + queue, every request answered.

The full-size version (10,000 requests, resident memory measured) is ``bench/overload.py``.
"""

from __future__ import annotations

import asyncio
import collections
import time

import httpx

from ollama_gateway.app import create_app
from tests.support.live import serve

CLIENTS = 60  # slots + queue = 6
REQUESTS = 600


async def test_overload_every_request_gets_200_429_or_503(make_settings, ollama):
    ollama.script("slow", delay=0.01)
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, parallel=2, max_queue=4, rate_limit_rpm=300
    )
    app = create_app(settings)
    codes: collections.Counter = collections.Counter()
    todo = list(range(REQUESTS))
    with serve(app) as url:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

            async def one_client() -> None:
                while todo:
                    todo.pop()
                    reply = await client.post(
                        "/api/generate", json={"model": "slow", "prompt": "x"}
                    )
                    codes[reply.status_code] += 1

            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(one_client() for _ in range(CLIENTS))), 120)
            elapsed = time.monotonic() - started
            health = await client.get("/health")
        scheduler = app.state.service.scheduler
        left = (scheduler.running(), scheduler.waiting)
    assert sum(codes.values()) == REQUESTS
    assert set(codes) == {200, 429, 503}, codes
    assert codes[200] <= 300 + 5 * elapsed + 1  # the rate limit held: a bucket and its refill
    assert health.status_code == 200
    assert left == (0, 0)  # every slot released, nobody left waiting
