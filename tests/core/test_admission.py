"""Queue and backpressure through real HTTP: 503 when full, FIFO, queue timeout, disconnects.

The gateway runs on a loopback port in front of the fake Ollama, whose ``hold`` model (scripted
by the ``upstream`` fixture) keeps a reply open until the test releases it, so that "a slot is
busy" is a fact the test controls.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.errors import QUEUE_TIMEOUT_MESSAGE
from tests.core.http_helpers import hang_up, open_request, read_head, until
from tests.support.live import serve

BUSY = "server busy, please try again.  maximum pending requests exceeded"


def _app(make_settings, upstream, **values):
    settings = make_settings(backend="ollama", ollama_url=upstream.url, **values)
    return create_app(settings)


def _scheduler(app):
    return app.state.service.scheduler


async def test_queue_overflow_is_503_with_retry_after_in_each_api_shape(make_settings, upstream):
    app = _app(make_settings, upstream, parallel=1, max_queue=1)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            running = asyncio.create_task(
                client.post("/api/chat", json={"model": "hold", "messages": [], "stream": False})
            )
            await until(lambda: upstream.held == 1, "the first request to reach Ollama")
            queued = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "q"})
            )
            await until(lambda: _scheduler(app).waiting == 1, "the second request to queue")

            seed = await client.post("/api/generate", json={"model": "hold", "prompt": "x"})
            assert seed.status_code == 503
            assert seed.headers["retry-after"] == "1"
            assert seed.json() == {"error": BUSY, "detail": BUSY}
            chat = await client.post("/api/chat", json={"model": "hold", "messages": []})
            assert chat.status_code == 503
            assert chat.headers["retry-after"] == "1"
            assert chat.json() == {"error": BUSY}
            assert len([r for r in upstream.requests if r.path != "/api/version"]) == 1

            upstream.release_held()
            await until(
                lambda: len(upstream.requests) == 2 and upstream.held == 1,
                "the queued request to reach Ollama",
            )
            upstream.release_held()
            first, second = await asyncio.wait_for(asyncio.gather(running, queued), 10)
    assert first.status_code == 200 and first.json()["message"]["content"] == "Hello, world!"
    assert second.status_code == 200 and second.json()["generated_text"] == "Hello, world!"


async def test_waiting_requests_start_in_arrival_order(make_settings, upstream):
    app = _app(make_settings, upstream, parallel=1, max_queue=10)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            tasks = [
                asyncio.create_task(
                    client.post("/api/generate", json={"model": "hold", "prompt": "first"})
                )
            ]
            await until(lambda: upstream.held == 1, "the first request to reach Ollama")
            for n in range(4):
                body = {"model": "hold", "prompt": f"waiter-{n}"}
                tasks.append(asyncio.create_task(client.post("/api/generate", json=body)))
                await until(lambda n=n: _scheduler(app).waiting == n + 1, f"waiter {n} to queue")
            arrived = []
            for _ in range(4):
                upstream.release_held()
                await until(
                    lambda: len(upstream.requests) == len(arrived) + 2 and upstream.held == 1,
                    "the next waiter to reach Ollama",
                )
                arrived.append(upstream.requests[-1].body["prompt"])
            upstream.release_held()
            replies = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert arrived == ["waiter-0", "waiter-1", "waiter-2", "waiter-3"]
    assert [r.status_code for r in replies] == [200] * 5


async def test_waiting_longer_than_queue_timeout_is_503(make_settings, upstream):
    app = _app(make_settings, upstream, parallel=1, queue_timeout=0.2)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            running = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "a"})
            )
            await until(lambda: upstream.held == 1, "the first request to reach Ollama")
            late = await client.post("/api/generate", json={"model": "hold", "prompt": "b"})
            assert late.status_code == 503
            assert late.json()["error"] == QUEUE_TIMEOUT_MESSAGE
            assert late.headers["retry-after"] == "1"
            assert _scheduler(app).waiting == 0
            upstream.release_held()
            assert (await asyncio.wait_for(running, 10)).status_code == 200
    assert [r.body["prompt"] for r in upstream.requests] == ["a"]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_client_that_hangs_up_frees_its_slot_for_the_next(make_settings, upstream, stream):
    app = _app(make_settings, upstream, parallel=1)
    with serve(app) as url:
        reader, writer = await open_request(
            url, "/api/generate", {"model": "hold", "prompt": "leaver", "stream": stream}
        )
        if stream:
            assert b" 200 " in await read_head(reader)
            await asyncio.wait_for(reader.readline(), 10)  # the chunk's size
            assert b'"response":"Hello"' in await asyncio.wait_for(reader.readline(), 10)
        await until(lambda: upstream.held == 1, "the first request to be held by Ollama")
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            nxt = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "next"})
            )
            await until(lambda: _scheduler(app).waiting == 1, "the second request to queue")
            await asyncio.sleep(0.2)
            assert [r.body["prompt"] for r in upstream.requests] == ["leaver"]  # still waiting

            await hang_up(writer)
            await until(lambda: len(upstream.requests) == 2, "the next request to reach Ollama")
            assert upstream.requests[1].body["prompt"] == "next"
            # the gateway closed its upstream request too: Ollama saw the client leave
            await until(lambda: upstream.disconnects == 1, "Ollama to see the hang-up")
            await until(lambda: upstream.held == 1, "only the next request to be held")
            upstream.release_held()
            reply = await asyncio.wait_for(nxt, 10)
    assert reply.status_code == 200 and reply.json()["generated_text"] == "Hello, world!"
    assert _scheduler(app).running() == 0


async def test_a_waiting_client_that_hangs_up_leaves_the_queue(make_settings, upstream):
    app = _app(make_settings, upstream, parallel=1, max_queue=1)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            running = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "running"})
            )
            await until(lambda: upstream.held == 1, "the first request to reach Ollama")
            _, writer = await open_request(
                url, "/api/generate", {"model": "hold", "prompt": "leaver", "stream": False}
            )
            await until(lambda: _scheduler(app).waiting == 1, "the second request to queue")
            await hang_up(writer)
            await until(lambda: _scheduler(app).waiting == 0, "the queue to empty")
            # its place is free: the queue (max 1) takes a new request instead of refusing it
            nxt = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "next"})
            )
            await until(lambda: _scheduler(app).waiting == 1, "the next request to queue")
            upstream.release_held()
            await until(lambda: len(upstream.requests) == 2, "the next request to reach Ollama")
            upstream.release_held()
            replies = await asyncio.wait_for(asyncio.gather(running, nxt), 10)
    assert [r.status_code for r in replies] == [200, 200]
    assert [r.body["prompt"] for r in upstream.requests] == ["running", "next"]


async def test_a_waiting_streaming_client_that_hangs_up_leaves_the_queue(make_settings, upstream):
    app = _app(make_settings, upstream, parallel=1, max_queue=1)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            running = asyncio.create_task(
                client.post("/api/generate", json={"model": "hold", "prompt": "running"})
            )
            await until(lambda: upstream.held == 1, "the first request to reach Ollama")
            _, writer = await open_request(
                url, "/api/generate", {"model": "hold", "prompt": "leaver", "stream": True}
            )
            await until(lambda: _scheduler(app).waiting == 1, "the second request to queue")
            await hang_up(writer)
            await until(lambda: _scheduler(app).waiting == 0, "the queue to empty", timeout=3)
            upstream.release_held()
            assert (await asyncio.wait_for(running, 10)).status_code == 200
    assert [r.body["prompt"] for r in upstream.requests] == ["running"]
