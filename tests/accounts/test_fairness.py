"""Fair queues: slots go round-robin across keys, so one key's burst cannot starve another."""

from __future__ import annotations

import asyncio
import threading

import httpx

from ollama_gateway.core.scheduler import Scheduler
from tests.support.scripted import ScriptedBackend


async def _drain(scheduler: Scheduler, model: str, order: list, holders: list) -> None:
    """Release the running slots one by one (each holder records when it got its slot)."""
    while holders:
        key = holders.pop(0)
        await asyncio.sleep(0)
        scheduler.release(model, key)
        await asyncio.sleep(0)


async def _burst(scheduler, model, key, count, order, holders, weight=1, cap=None):
    async def one(i):
        await scheduler.acquire(model, key, weight=weight, max_concurrent=cap)
        order.append((key, i))
        holders.append(key)

    return [asyncio.create_task(one(i)) for i in range(count)]


async def test_a_small_burst_starts_before_a_large_ones_tail():
    scheduler = Scheduler(parallel=1, max_queue=1000, queue_timeout=None)
    order: list = []
    holders: list = []
    tasks = await _burst(scheduler, "m", "A", 50, order, holders)
    await asyncio.sleep(0)
    tasks += await _burst(scheduler, "m", "B", 5, order, holders)
    await asyncio.sleep(0)
    while len(order) < 55:
        await _drain(scheduler, "m", order, holders)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    keys = [k for k, _ in order]
    b_starts = [i for i, k in enumerate(keys) if k == "B"]
    assert b_starts == [2, 4, 6, 8, 10]  # A holds the first slot, then A and B take turns
    assert keys.index("B") < 50 and max(b_starts) < keys.index("A", 20)
    assert [i for k, i in order if k == "A"] == list(range(50))  # each key's own order kept


async def test_weights_give_a_key_more_turns():
    scheduler = Scheduler(parallel=1, max_queue=1000, queue_timeout=None)
    order: list = []
    holders: list = []
    await scheduler.acquire("m", "X")  # someone holds the slot while the queues fill
    holders.append("X")
    tasks = await _burst(scheduler, "m", "A", 9, order, holders, weight=3)
    tasks += await _burst(scheduler, "m", "B", 3, order, holders)
    await asyncio.sleep(0)
    while len(order) < 12:
        await _drain(scheduler, "m", order, holders)
    await asyncio.gather(*tasks)
    assert "".join(k for k, _ in order) == "AAABAAABAAAB"


async def test_a_key_at_its_concurrency_cap_waits_while_others_go_on():
    scheduler = Scheduler(parallel=4, max_queue=1000, queue_timeout=None)
    order: list = []
    holders: list = []
    tasks = await _burst(scheduler, "m", "A", 3, order, holders, cap=1)
    tasks += await _burst(scheduler, "m", "B", 2, order, holders)
    await asyncio.sleep(0.01)
    assert sorted(order) == [("A", 0), ("B", 0), ("B", 1)]  # A's 2nd and 3rd wait for A's 1st
    assert scheduler.running("m") == 3 and scheduler.queued("m") == 2
    scheduler.release("m", "A")
    await asyncio.sleep(0.01)
    assert ("A", 1) in order and ("A", 2) not in order
    scheduler.release("m", "A")
    await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert ("A", 2) in order


class _Recording(ScriptedBackend):
    """Records which request started when; the first one holds its slot until ``opened``."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.opened = threading.Event()

    async def _run(self, request):
        self.started.append(request.prompt)
        while not self.opened.is_set():
            await asyncio.sleep(0.005)
        async for chunk in super()._run(request):
            yield chunk


async def test_through_the_gateway_key_b_is_served_between_key_a_requests(gateway_with):
    backend = _Recording()
    keys = "a" * 20 + "," + "b" * 20
    with gateway_with(backend, parallel=1, max_queue=1000, api_keys=keys) as (url, app):
        scheduler = app.state.service.scheduler
        async with httpx.AsyncClient(timeout=120) as client:

            async def send(key: str, name: str):
                r = await client.post(
                    url + "/api/generate",
                    json={"model": "tiny", "prompt": name, "stream": False},
                    headers={"X-API-KEY": key * 20},
                )
                assert r.status_code == 200, r.text

            async def until(count: int) -> None:
                for _ in range(6000):
                    if scheduler.waiting == count:
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError(f"{scheduler.waiting} waiting, expected {count}")

            a = []
            for i in range(50):  # in order: A0 runs (held), A1..A49 wait
                a.append(asyncio.create_task(send("a", f"A{i}")))
                while not backend.started:
                    await asyncio.sleep(0.01)
                await until(i)
            b = []
            for i in range(5):
                b.append(asyncio.create_task(send("b", f"B{i}")))
                await until(50 + i)
            backend.opened.set()
            await asyncio.gather(*a, *b)
    started = backend.started
    assert [i for i, name in enumerate(started) if name.startswith("B")] == [2, 4, 6, 8, 10]
    assert [name for name in started if name.startswith("A")] == [f"A{i}" for i in range(50)]
