"""Ending requests in flight cleanly when the server stops (SIGTERM, SIGINT).

On a stop signal uvicorn stops accepting connections and lets requests in flight finish for
``shutdown_grace`` seconds, then cancels what is left: a stream would just stop, a truncated body
that a client cannot tell from a network fault. :class:`ShutdownNotice` ends them first, in
their API's own terms: when the grace period runs out, each stream still running gets one last
in-band error (NDJSON ``{"error": ...}``, or an SSE error event and ``[DONE]``) and ends, and a
non-streamed request still waiting answers 503.

The app learns of the signal by chaining its own handler in front of the server's for the life
of its lifespan (:func:`on_stop_signals`; only in the main thread, where signals arrive). Work is
stopped by cancelling the task that runs it; the code that catches that cancellation
(:meth:`ShutdownNotice.guard`, ``until_disconnect``) checks :attr:`ShutdownNotice.expired`, so any
other cancellation goes on as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import types
from collections.abc import AsyncGenerator, Iterator

log = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "the server is shutting down; the request was stopped"


class ShutdownNotice:
    """One app's requests in flight, and whether the grace period for them has run out."""

    def __init__(self) -> None:
        self.expired = False
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The app started on ``loop``: a stop signal may now reach it."""
        self._loop = loop

    def detach(self) -> None:
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()

    def begin(self, grace: float) -> None:
        """A stop signal arrived: end what is still running in ``grace`` seconds.

        Safe to call from a signal handler or another thread.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._schedule, grace)

    def _schedule(self, grace: float) -> None:
        if self._timer is None and not self.expired:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, grace), self.expire)

    def expire(self) -> None:
        """The grace period is over: stop every request still tracked."""
        self.expired = True
        if self._tasks:
            log.warning("stopping %d request(s) still running at shutdown", len(self._tasks))
        for task in list(self._tasks):
            task.cancel(SHUTDOWN_MESSAGE)

    @contextlib.contextmanager
    def tracking(self) -> Iterator[asyncio.Task[object] | None]:
        """Track the current task while the block runs (it is cancelled on expiry)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield task
        finally:
            if task is not None:
                self._tasks.discard(task)

    def stopped(self, task: asyncio.Task[object] | None) -> bool:
        """Whether a cancellation that ``task`` caught is this notice's: then it is taken back
        (the task goes on to say goodbye) and True is returned."""
        if not self.expired or task is None or task.cancelling() == 0:
            return False
        task.uncancel()
        return True

    async def guard(
        self, body: AsyncGenerator[bytes, None], farewell: bytes
    ) -> AsyncGenerator[bytes, None]:
        """``body``, ended with ``farewell`` instead of being cut off when the grace runs out."""
        with self.tracking() as task:
            try:
                async with contextlib.aclosing(body):
                    async for part in body:
                        yield part
            except asyncio.CancelledError:
                if not self.stopped(task):
                    raise
                yield farewell


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def on_stop_signals(notice: ShutdownNotice, grace: float) -> Iterator[None]:
    """While the block runs, SIGTERM/SIGINT start ``notice``'s grace period, then reach the
    handler that was there before (the server's, which begins its own shutdown)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum: int, frame: types.FrameType | None) -> None:
        notice.begin(grace)
        before = previous[signal.Signals(signum)]
        if callable(before):
            before(signum, frame)
        else:  # the default action (or none): restore it and let it happen
            signal.signal(signum, before if before is not None else signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handler and before is not None:
                signal.signal(sig, before)
