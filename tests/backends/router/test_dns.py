"""DNS discovery: a name that resolves to several loopback addresses is one upstream per address,
and the fleet follows the answer as it changes (a StatefulSet scaled up and down)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support.fake_ollama import FakeOllama

NAME = "ollama-headless.fleet.test"


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def generations(server: FakeOllama) -> int:
    return sum(r.path == "/api/generate" for r in server.requests)


@pytest.fixture
def pods():
    two = FakeOllama(host="127.0.0.2", loaded=["llama2:latest"])
    two.start()
    three = FakeOllama(host="127.0.0.3", loaded=["llama2:latest"])
    three.start(two.port)  # the same port on another address, as pods behind one Service
    yield two, three
    two.stop()
    three.stop()


async def test_a_name_with_several_addresses_and_a_changing_answer(fleet, pods):
    two, three = pods
    answers = {NAME: ["127.0.0.2"]}

    async def resolver(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"cannot resolve {host}")
        return list(answers[host])

    upstreams = [{"name": "ollama", "url": f"http://{NAME}:{two.port}", "dns": True}]
    with fleet(upstreams, resolver=resolver, discovery_interval=0.2) as f:
        names = lambda: sorted(f.router.registry.by_name)  # noqa: E731
        assert names() == ["ollama@127.0.0.2"]

        async def generate(count: int) -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                for _ in range(count):
                    body = {"model": "llama2", "prompt": "x"}
                    r = await client.post(f"{f.url}/api/generate", json=body)
                    assert r.status_code == 200

        await generate(2)
        assert (generations(two), generations(three)) == (2, 0)
        assert two.last("/api/generate").headers["Host"] == f"{NAME}:{two.port}"

        answers[NAME] = ["127.0.0.2", "127.0.0.3"]  # scaled up
        await until(lambda: names() == ["ollama@127.0.0.2", "ollama@127.0.0.3"])
        await until(lambda: f.upstream("ollama@127.0.0.3").names is not None)
        await generate(6)  # both warm and idle: they take turns
        assert (generations(two), generations(three)) == (5, 3)

        answers[NAME] = ["127.0.0.3"]  # scaled down: drained, then closed
        await until(lambda: names() == ["ollama@127.0.0.3"])
        before = generations(two)
        await generate(3)
        assert generations(two) == before

        del answers[NAME]  # the name does not resolve for a while: what is known stays
        await asyncio.sleep(0.5)
        assert names() == ["ollama@127.0.0.3"]
        await generate(1)
        ready = httpx.get(f"{f.url}/ready").json()
        assert [u["name"] for u in ready["upstreams"]] == ["ollama@127.0.0.3"]


async def test_the_system_resolver(fleet, ollamas):
    a = ollamas["a"]
    port = a.url.rsplit(":", 1)[1]
    upstreams = [{"name": "local", "url": f"http://localhost:{port}", "dns": True}]
    with fleet(upstreams) as f:
        assert "local@127.0.0.1" in f.router.registry.by_name
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{f.url}/api/generate", json={"model": "llama2", "prompt": "x"})
        assert r.status_code == 200 and generations(a) == 1
