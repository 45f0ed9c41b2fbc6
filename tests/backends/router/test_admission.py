"""Per-upstream slots and the fleet queue: hand-over in order, the queue's bounds."""

from __future__ import annotations

import asyncio

import pytest

from ollama_gateway.backends.router.admission import Admission
from ollama_gateway.errors import (
    QUEUE_TIMEOUT_MESSAGE,
    QueueTimeout,
    ServerBusy,
    UpstreamUnavailable,
)
from tests.backends.router.test_strategies import upstream


def chooser(*ups):
    def choose():
        free = [u for u in ups if u.in_flight < u.max_in_flight]
        return free[0] if free else None

    return choose


async def test_waiters_get_freed_slots_in_order():
    only = upstream("a", limit=1)
    admission = Admission(max_queue=10, queue_timeout=5)
    admission.take(only)
    order = []

    async def wait(i):
        got = await admission.wait(chooser(only), "m")
        order.append(i)
        await asyncio.sleep(0)
        admission.release(got)

    tasks = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert admission.waiting == 3
    admission.release(only)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and only.in_flight == 0 and admission.waiting == 0


async def test_the_queue_is_bounded_in_length_and_time():
    only = upstream("a", limit=1)
    admission = Admission(max_queue=1, queue_timeout=0.05)
    admission.take(only)
    first = asyncio.create_task(admission.wait(chooser(only), "m"))
    await asyncio.sleep(0)
    with pytest.raises(ServerBusy) as full:
        await admission.wait(chooser(only), "m")
    assert full.value.retry_after is not None
    assert not isinstance(full.value, QueueTimeout)  # full, not timed out
    with pytest.raises(QueueTimeout, match=QUEUE_TIMEOUT_MESSAGE.split(".")[0]):
        await first
    assert admission.waiting == 0 and only.in_flight == 1


async def test_a_waiter_fails_when_nothing_can_serve_it_any_more():
    only = upstream("a", limit=1)
    admission = Admission(max_queue=10, queue_timeout=5)
    admission.take(only)
    gone = UpstreamUnavailable("no upstream")
    waiter = asyncio.create_task(admission.wait(lambda: gone, "m"))
    await asyncio.sleep(0)
    admission.dispatch()
    with pytest.raises(UpstreamUnavailable):
        await waiter


async def test_a_cancelled_waiter_passes_its_slot_on():
    only = upstream("a", limit=1)
    admission = Admission(max_queue=10, queue_timeout=5)
    admission.take(only)
    leaving = asyncio.create_task(admission.wait(chooser(only), "m"))
    staying = asyncio.create_task(admission.wait(chooser(only), "m"))
    await asyncio.sleep(0)
    leaving.cancel()
    admission.release(only)
    assert await staying is only and only.in_flight == 1
