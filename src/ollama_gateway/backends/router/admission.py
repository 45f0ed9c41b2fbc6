"""Per-upstream in-flight limits, and the fleet's queue when every upstream for a model is full.

A request takes a slot of the upstream the strategy picked (``in_flight`` < ``max_in_flight``).
When every routable upstream serving its model is full it waits, first come first served, with
the gateway queue's semantics: at most ``max_queue`` requests wait (all models together), each
for at most ``queue_timeout`` seconds; beyond either it gets :class:`ServerBusy` (503 with
``Retry-After``), as from the single-backend scheduler.

A freed slot (or an upstream that rejoins or appears) is offered to the waiters in order; a
waiter asks its own chooser, so routing rules (warmth, weights) still apply. Within one pass a
model found full is not asked again, so a release costs one pick per model waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ollama_gateway.backends.router.upstream import Upstream
from ollama_gateway.errors import QueueTimeout, ServerBusy

# A waiter's chooser: an upstream with a free slot, None (all full: keep waiting) or an error
# to fail with (no routable upstream serves the model any more).
Chooser = Callable[[], Upstream | BaseException | None]


class _Waiter:
    __slots__ = ("choose", "future", "model_key")

    def __init__(self, future: asyncio.Future[Upstream], choose: Chooser, model_key: str) -> None:
        self.future = future
        self.choose = choose
        self.model_key = model_key


class Admission:
    def __init__(self, max_queue: int, queue_timeout: float | None) -> None:
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.waiting = 0
        self._waiters: deque[_Waiter] = deque()

    @staticmethod
    def take(upstream: Upstream) -> Upstream:
        upstream.in_flight += 1
        return upstream

    async def wait(self, choose: Chooser, model_key: str) -> Upstream:
        """Wait for a slot (ServerBusy when the queue is full or the wait too long)."""
        if self.waiting >= self.max_queue:
            raise ServerBusy()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Upstream] = loop.create_future()
        self._waiters.append(_Waiter(future, choose, model_key))
        self.waiting += 1
        timer = (
            loop.call_later(self.queue_timeout, _expire, future)
            if self.queue_timeout is not None
            else None
        )
        try:
            return await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())  # handed a slot as we gave up: pass it on
            else:
                future.cancel()
            raise
        finally:
            self.waiting -= 1
            if timer is not None:
                timer.cancel()

    def release(self, upstream: Upstream) -> None:
        upstream.in_flight -= 1
        if self._waiters:
            self.dispatch()

    def dispatch(self) -> None:
        """Offer free slots to the waiters, oldest first."""
        blocked: set[str] = set()
        kept: deque[_Waiter] = deque()
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if waiter.model_key in blocked:
                kept.append(waiter)
                continue
            chosen = waiter.choose()
            if chosen is None:
                blocked.add(waiter.model_key)
                kept.append(waiter)
                continue
            if isinstance(chosen, BaseException):
                waiter.future.set_exception(chosen)
                continue
            chosen.in_flight += 1
            waiter.future.set_result(chosen)
        self._waiters = kept


def _expire(future: asyncio.Future[Upstream]) -> None:
    if not future.done():
        future.set_exception(QueueTimeout())
