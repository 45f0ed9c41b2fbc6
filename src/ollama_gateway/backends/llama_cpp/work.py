"""Blocking llama.cpp work for requests, in worker threads of its own, stoppable.

Rendering a prompt, tokenizing it, compiling a grammar and embedding run here, in a pool apart
from the event loop's default executor (which the model store uses: listing, showing and
deleting models never wait behind a long tokenization). A thread cannot be killed, so a job is
stopped by asking: :func:`in_worker` sets the request's ``cancel`` flag when the awaiting task
is cancelled (the client left, the deadline passed, shutdown), and the jobs look at it between
pieces of work (template steps, tokenizer chunks, embedding chunks and inputs). A job that was
still queued never starts. What a job that finishes anyway returns goes to ``discard`` (a
compiled sampler is freed), so nothing is orphaned.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# Threads are started on demand; most of their time is spent in llama.cpp (outside the GIL).
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="llama-work")


async def in_worker(
    fn: Callable[..., T],
    /,
    *args: Any,
    cancel: threading.Event | None = None,
    discard: Callable[[T], None] | None = None,
) -> T:
    """``fn(*args)`` in a worker thread; see the module docstring for cancellation."""
    job = _pool.submit(fn, *args)
    try:
        return await asyncio.wrap_future(job)
    except asyncio.CancelledError:
        if cancel is not None:
            cancel.set()
        if discard is not None:
            job.add_done_callback(functools.partial(_discard, discard))
        raise


def _discard(discard: Callable[[Any], None], job: Future) -> None:
    if not job.cancelled() and job.exception() is None:
        discard(job.result())
