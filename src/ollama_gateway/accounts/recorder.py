"""Usage written off the request path: a bounded buffer and one background writer.

:meth:`UsageRecorder.record` appends an event to an in-memory buffer and returns at once; it never
waits for the database. A background task writes the buffer in batches (up to ``batch`` events per
transaction, every ``interval`` seconds or as soon as a batch is full). When the database is slow
or down the events stay buffered (the writer retries with a growing pause, up to 30 s); once
``capacity`` events wait, new ones are dropped, counted (``dropped``, exported as
``ollama_gateway_usage_events_dropped_total``) and reported by one warning per outage. Writing
resumes by itself when the database answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable

from ollama_gateway.accounts.store import KeyStore
from ollama_gateway.accounts.usage_event import UsageEvent

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class UsageRecorder:
    def __init__(
        self,
        store: KeyStore,
        capacity: int = 100_000,
        batch: int = 2000,
        interval: float = 0.5,
        on_drop: Callable[[int], None] | None = None,
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.batch = batch
        self.interval = interval
        self.on_drop = on_drop
        self.on_write = on_write
        self.buffer: deque[UsageEvent] = deque()
        self.dropped = 0
        self.written = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._warned_drop = False

    def record(self, event: UsageEvent) -> None:
        """Buffer one event (never blocks; drops it when the buffer is full)."""
        buffer = self.buffer
        if len(buffer) >= self.capacity:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(1)
            if not self._warned_drop:
                self._warned_drop = True
                log.warning(
                    "usage buffer full (%d events): dropping usage events until the database "
                    "catches up",
                    self.capacity,
                )
            return
        buffer.append(event)
        if len(buffer) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the writer after one last attempt to write what is buffered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout)

    async def flush(self) -> None:
        """Write everything buffered now (raises when the database fails)."""
        while self.buffer:
            await self._write_batch()

    async def _write_batch(self) -> None:
        count = min(len(self.buffer), self.batch)
        events = list(itertools.islice(self.buffer, count))
        await self.store.write_usage(events)
        for _ in range(count):  # only now: a failed write keeps them for the next try
            self.buffer.popleft()
        self.written += count
        if self.on_write is not None:
            self.on_write(count)

    async def _run(self) -> None:
        pause = self.interval
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.failing:
                    log.warning(
                        "cannot write usage to the database (%d events buffered): %s",
                        len(self.buffer),
                        " ".join(str(exc).split())[:300],
                    )
                self.failing = True
                pause = min(MAX_BACKOFF, max(pause * 2, 1.0))
                continue
            if self.failing:
                log.warning("usage writing resumed (%d events dropped meanwhile)", self.dropped)
            self.failing = False
            self._warned_drop = False
            pause = self.interval
