"""The scheduler on its own: slots, FIFO hand-over, queue bound, queue timeout, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from ollama_gateway.core.scheduler import Scheduler
from ollama_gateway.errors import QUEUE_TIMEOUT_MESSAGE, QueueTimeout, ServerBusy


async def _spin(times: int = 5) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_free_slots_are_taken_without_waiting():
    scheduler = Scheduler(parallel=2, max_queue=0, queue_timeout=None)
    await scheduler.acquire("m")
    await scheduler.acquire("m")
    assert scheduler.running("m") == 2
    with pytest.raises(ServerBusy) as info:
        await scheduler.acquire("m")
    assert info.value.message == (
        "server busy, please try again.  maximum pending requests exceeded"
    )
    assert info.value.headers() == {"Retry-After": "1"}
    await scheduler.acquire("other")  # each model has its own slots
    assert scheduler.running() == 3


async def test_waiters_get_the_slot_in_arrival_order():
    scheduler = Scheduler(parallel=1, max_queue=10, queue_timeout=None)
    await scheduler.acquire("m")
    order: list[int] = []

    async def client(n: int) -> None:
        await scheduler.acquire("m")
        order.append(n)

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(client(n)))
        await _spin()
    assert scheduler.queued("m") == 5
    for expected in range(5):
        scheduler.release("m")
        await _spin()
        assert order == list(range(expected + 1))
    scheduler.release("m")
    await asyncio.gather(*tasks)
    assert scheduler.running("m") == 0 and scheduler.waiting == 0


async def test_a_new_request_cannot_overtake_the_queue():
    scheduler = Scheduler(parallel=1, max_queue=10, queue_timeout=None)
    await scheduler.acquire("m")
    first = asyncio.create_task(scheduler.acquire("m"))
    await _spin()
    scheduler.release("m")  # handed to `first`, which has not run yet
    late = asyncio.create_task(scheduler.acquire("m"))
    await _spin()
    assert first.done() and not late.done()
    scheduler.release("m")
    await asyncio.wait_for(late, 1)


async def test_queue_full_counts_waiters_of_every_model():
    scheduler = Scheduler(parallel=1, max_queue=2, queue_timeout=None)
    await scheduler.acquire("a")
    await scheduler.acquire("b")
    waiting = [asyncio.create_task(scheduler.acquire(m)) for m in ("a", "b")]
    await _spin()
    with pytest.raises(ServerBusy):
        await scheduler.acquire("a")
    scheduler.release("a")
    scheduler.release("b")
    await asyncio.wait_for(asyncio.gather(*waiting), 1)


async def test_waiting_too_long_is_server_busy_and_leaves_the_queue():
    scheduler = Scheduler(parallel=1, max_queue=1, queue_timeout=0.05)
    await scheduler.acquire("m")
    with pytest.raises(ServerBusy) as info:
        await asyncio.wait_for(scheduler.acquire("m"), 5)
    assert info.value.message == QUEUE_TIMEOUT_MESSAGE
    assert isinstance(info.value, QueueTimeout)  # told apart by its type, not its words
    assert scheduler.waiting == 0
    later = asyncio.create_task(scheduler.acquire("m"))  # the queue has room again
    await _spin()
    scheduler.release("m")
    await asyncio.wait_for(later, 1)
    assert scheduler.running("m") == 1


async def test_a_cancelled_waiter_is_skipped():
    scheduler = Scheduler(parallel=1, max_queue=10, queue_timeout=None)
    await scheduler.acquire("m")
    gone = asyncio.create_task(scheduler.acquire("m"))
    stays = asyncio.create_task(scheduler.acquire("m"))
    await _spin()
    gone.cancel()
    await _spin()
    assert scheduler.waiting == 1
    scheduler.release("m")
    await asyncio.wait_for(stays, 1)
    assert scheduler.running("m") == 1


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_passes_on():
    scheduler = Scheduler(parallel=1, max_queue=10, queue_timeout=None)
    await scheduler.acquire("m")
    first = asyncio.create_task(scheduler.acquire("m"))
    second = asyncio.create_task(scheduler.acquire("m"))
    await _spin()
    scheduler.release("m")  # the slot now belongs to `first`...
    first.cancel()  # ...which is cancelled before it resumes
    await _spin()
    assert first.cancelled()
    await asyncio.wait_for(second, 1)
    assert scheduler.running("m") == 1
    scheduler.release("m")
    assert scheduler.running() == 0


async def test_given_up_waiters_do_not_accumulate():
    scheduler = Scheduler(parallel=1, max_queue=4, queue_timeout=None)
    await scheduler.acquire("m")
    for _ in range(500):  # the slot is never released; clients come and go
        task = asyncio.create_task(scheduler.acquire("m"))
        await _spin(1)
        task.cancel()
        await _spin(1)
    assert scheduler.waiting == 0
    assert sum(len(q) for q in scheduler._models["m"].queues.values()) <= 40
