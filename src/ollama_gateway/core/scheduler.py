"""Admission control: at most ``parallel`` generations per model, a bounded FIFO queue behind them.

Ollama runs ``OLLAMA_NUM_PARALLEL`` requests per model at once and refuses new ones with 503 once
``OLLAMA_MAX_QUEUE`` are waiting; :class:`Scheduler` does the same for every backend.

- :meth:`Scheduler.acquire` takes a slot of a model. When one is free and nobody waits it returns
  without suspending. Otherwise the caller joins the model's FIFO queue; when ``max_queue``
  requests already wait (all models together, as in Ollama) it raises :class:`ServerBusy` at once,
  and a request that waits longer than ``queue_timeout`` gets :class:`ServerBusy` too.
- :meth:`Scheduler.release` hands the slot straight to the oldest waiter of that model (so a slot
  never goes idle while someone waits, and nobody can overtake the queue), or frees it.

Every operation is O(1) (amortised): a waiter that gives up (cancelled, timed out) stays in the
deque marked done and is skipped when it reaches the front; the deque is compacted when such dead
entries outnumber live ones. Everything runs on the event loop; no locks, no threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from ollama_gateway.errors import ServerBusy

QUEUE_TIMEOUT_MESSAGE = "server busy, please try again.  timed out waiting for a free slot"


@dataclass(slots=True)
class ModelSlots:
    """One model's running count and its queue of waiters (futures resolved on hand-over)."""

    running: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class Scheduler:
    """Per-model slots with a shared, bounded FIFO queue."""

    def __init__(self, parallel: int, max_queue: int, queue_timeout: float | None) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self.parallel = parallel
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.waiting = 0  # live waiters, all models
        self._models: dict[str, ModelSlots] = {}

    # -- introspection (metrics, /api/ps, tests) ----------------------------------------------
    def running(self, model: str | None = None) -> int:
        """Slots held for ``model``, or for all models."""
        if model is not None:
            slots = self._models.get(model)
            return slots.running if slots else 0
        return sum(s.running for s in self._models.values())

    def queued(self, model: str) -> int:
        """Live waiters of ``model`` (O(queue length); for tests and metrics, not the hot path)."""
        slots = self._models.get(model)
        return sum(1 for f in slots.waiters if not f.done()) if slots else 0

    # -- the hot path -------------------------------------------------------------------------
    async def acquire(self, model: str) -> None:
        """Take one of ``model``'s slots; wait in FIFO order; raise ServerBusy when full."""
        slots = self._models.get(model)
        if slots is None:
            slots = self._models[model] = ModelSlots()
        if slots.running < self.parallel and not slots.waiters:
            slots.running += 1
            return
        if self.waiting >= self.max_queue:
            raise ServerBusy()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waiters = slots.waiters
        if len(waiters) > 2 * self.waiting + 32:  # mostly given-up waiters: drop them (amortised)
            slots.waiters = waiters = deque(w for w in waiters if not w.done())
        waiters.append(waiter)
        self.waiting += 1
        timer = (
            loop.call_later(self.queue_timeout, _expire, waiter)
            if self.queue_timeout is not None
            else None
        )
        try:
            await waiter  # resolved by release(): the slot is ours, running already counts it
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # handed a slot, but cancelled before we could use it: pass it on
                self.release(model)
            else:
                waiter.cancel()  # leaves the deque lazily
            raise
        finally:
            self.waiting -= 1
            if timer is not None:
                timer.cancel()

    def release(self, model: str) -> None:
        """Give ``model``'s slot to its oldest live waiter, or free it."""
        slots = self._models[model]
        waiters = slots.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # running stays the same: the slot changes hands
                return
        slots.running -= 1
        if slots.running == 0:
            del self._models[model]  # no state left behind for models no longer used


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ServerBusy(QUEUE_TIMEOUT_MESSAGE))
