"""Admission control: at most ``parallel`` generations per model, fair queues behind them.

Ollama runs ``OLLAMA_NUM_PARALLEL`` requests per model at once and refuses new ones with 503 once
``OLLAMA_MAX_QUEUE`` are waiting; :class:`Scheduler` does the same for every backend, and shares
the slots fairly between API keys.

- :meth:`Scheduler.acquire` takes a slot of a model for a key. When one is free (and the key is
  under its ``max_concurrent``) it returns without suspending. Otherwise the caller joins its
  key's queue for that model; when ``max_queue`` requests already wait (all models and keys
  together, as in Ollama) it raises :class:`ServerBusy` at once, and a request that waits longer
  than ``queue_timeout`` gets :class:`ServerBusy` too.
- :meth:`Scheduler.release` hands the slot to the next waiter, **round-robin across keys**: each
  key with waiters gets ``weight`` slots in turn (default 1), its own requests in arrival order,
  so one key's burst cannot starve the others. A key at its ``max_concurrent`` (running requests,
  all models together) is skipped until one of its requests ends. With a single key (or none)
  this is the plain FIFO queue.

Every operation is O(1) amortised in the number of waiters (O(keys waiting) to find the next
eligible key): a waiter that gives up (cancelled, timed out) stays in its queue marked done and is
skipped when it reaches the front. Everything runs on the event loop; no locks, no threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from ollama_gateway.errors import QueueTimeout, ServerBusy

Key = Hashable  # who is asking: a key's subject; None for requests without a key


@dataclass(slots=True)
class ModelSlots:
    """One model's running count and its waiters, one FIFO queue per key."""

    running: int = 0
    queues: dict[Key, deque[asyncio.Future[None]]] = field(default_factory=dict)
    order: deque[Key] = field(default_factory=deque)  # keys with waiters, in round-robin order
    turns: int = 0  # slots the key at the front of ``order`` may still take in its turn


class Scheduler:
    """Per-model slots with bounded, per-key fair queues."""

    def __init__(self, parallel: int, max_queue: int, queue_timeout: float | None) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self.parallel = parallel
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.waiting = 0  # live waiters, all models
        self._models: dict[str, ModelSlots] = {}
        self._key_running: dict[Key, int] = {}  # keys with a concurrency cap only
        self._caps: dict[Key, int] = {}
        self._weights: dict[Key, int] = {}

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
        if slots is None:
            return 0
        return sum(1 for q in slots.queues.values() for f in q if not f.done())

    # -- the hot path -------------------------------------------------------------------------
    async def acquire(
        self,
        model: str,
        key: Key = None,
        *,
        weight: int = 1,
        max_concurrent: int | None = None,
    ) -> None:
        """Take one of ``model``'s slots for ``key``; wait in turn; ServerBusy when full."""
        slots = self._models.get(model)
        if slots is None:
            slots = self._models[model] = ModelSlots()
        if weight != 1 or key in self._weights:
            self._weights[key] = max(1, weight)
        if max_concurrent:
            self._caps[key] = max_concurrent
        elif key in self._caps:
            del self._caps[key]
        if slots.running < self.parallel and self._under_cap(key):
            self._grant(slots, key)
            return
        if self.waiting >= self.max_queue:
            raise ServerBusy()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        queue = slots.queues.get(key)
        if queue is None:
            queue = slots.queues[key] = deque()
            slots.order.append(key)
        elif len(queue) > 2 * self.waiting + 32:
            live = deque(w for w in queue if not w.done())  # mostly given up: drop them
            queue.clear()
            queue.extend(live)
        queue.append(waiter)
        self.waiting += 1
        timer = (
            loop.call_later(self.queue_timeout, _expire, waiter)
            if self.queue_timeout is not None
            else None
        )
        try:
            await waiter  # resolved by _dispatch(): the slot is ours, running already counts it
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # handed a slot, but cancelled before we could use it: pass it on
                self.release(model, key)
            else:
                waiter.cancel()  # leaves the queue lazily
            raise
        finally:
            self.waiting -= 1
            if timer is not None:
                timer.cancel()

    def release(self, model: str, key: Key = None) -> None:
        """Give ``model``'s slot to the next waiter in turn, or free it."""
        slots = self._models[model]
        slots.running -= 1
        capped = key in self._caps or key in self._key_running
        if capped:
            left = self._key_running.get(key, 1) - 1
            if left > 0:
                self._key_running[key] = left
            else:
                self._key_running.pop(key, None)
        self._dispatch(model, slots)
        if capped:  # the key may now go on where it waits for other models
            for name, other in list(self._models.items()):
                if other is not slots and key in other.queues:
                    self._dispatch(name, other)

    # -- internals ------------------------------------------------------------------------------
    def _under_cap(self, key: Key) -> bool:
        cap = self._caps.get(key)
        return cap is None or self._key_running.get(key, 0) < cap

    def _grant(self, slots: ModelSlots, key: Key) -> None:
        slots.running += 1
        if key in self._caps:
            self._key_running[key] = self._key_running.get(key, 0) + 1

    def _dispatch(self, model: str, slots: ModelSlots) -> None:
        while slots.running < self.parallel:
            found = self._next(slots)
            if found is None:
                break
            key, waiter = found
            self._grant(slots, key)
            waiter.set_result(None)
        if slots.running == 0 and not slots.queues:
            del self._models[model]  # no state left behind for models no longer used

    def _next(self, slots: ModelSlots) -> tuple[Key, asyncio.Future[None]] | None:
        """The next live waiter in round-robin order whose key is under its cap."""
        order = slots.order
        for _ in range(len(order)):
            key = order[0]
            queue = slots.queues[key]
            while queue and queue[0].done():
                queue.popleft()
            if not queue:
                order.popleft()
                del slots.queues[key]
                slots.turns = 0
                continue
            if not self._under_cap(key):
                order.rotate(-1)
                slots.turns = 0
                continue
            if slots.turns <= 0:
                slots.turns = self._weights.get(key, 1)
            slots.turns -= 1
            waiter = queue.popleft()
            if slots.turns == 0 or not queue:
                slots.turns = 0
                if queue:
                    order.rotate(-1)
                else:
                    order.popleft()
                    del slots.queues[key]
            return key, waiter
        return None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(QueueTimeout())
