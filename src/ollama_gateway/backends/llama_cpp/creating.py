"""Creating models and receiving blobs for the embedded backend (``/api/create``, ``/api/blobs``).

The checks (:func:`~ollama_gateway.models.create.plan_create`) run in a worker thread before the
first status line, so a bad request is a 4xx; the build runs in a worker thread too, its status
lines passed to the event loop as they happen. When the client leaves, the build stops at its
next step (a quantization in progress is killed) and no manifest is written.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ollama_gateway.backends.llama_cpp.options import engine_options
from ollama_gateway.backends.llama_cpp.work import in_worker
from ollama_gateway.errors import ServiceUnavailable
from ollama_gateway.models.blobs import receive_blob
from ollama_gateway.models.create import CreateCancelled, CreateSpec, build, plan_create
from ollama_gateway.models.store import ModelStore


async def create_model(
    store: ModelStore, spec: CreateSpec, *, max_predict: int
) -> AsyncIterator[dict[str, Any]]:
    """Ollama's create status events for ``spec``, ending with ``{"status": "success"}``."""
    if spec.from_:
        await _import_packaged(store, spec.from_)
    plan = await asyncio.to_thread(plan_create, store, spec)
    if plan.parameters:  # the engine's ranges too (temperature >= 0, top_p <= 1, ...)
        engine_options(plan.parameters, max_predict=max_predict)
    async for event in _events(build, store, plan):
        yield event


async def _import_packaged(store: ModelStore, name: str) -> None:
    """A packaged model named by ``from`` that is not in the store yet is imported first."""
    from ollama_gateway.models.bootstrap import _import_packaged as import_packaged

    if not await asyncio.to_thread(store.exists, name):
        await asyncio.to_thread(import_packaged, name, store)


async def _events(fn: Callable[..., None], *args: Any) -> AsyncIterator[dict[str, Any]]:
    """Run ``fn(*args, emit, cancel)`` in a worker thread; yield what it emits, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    cancel = threading.Event()

    def emit(event: dict[str, Any]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, event)
        except RuntimeError:  # the loop is gone: no one is listening
            cancel.set()

    job = asyncio.ensure_future(in_worker(fn, *args, emit, cancel, cancel=cancel))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            try:
                job.result()
            except CreateCancelled:
                raise ServiceUnavailable("the model creation was cancelled") from None
            return
    finally:
        if not job.done():
            cancel.set()
            job.cancel()


async def has_blob(store: ModelStore, digest: str) -> bool:
    path = store.blob_path(digest)  # BadRequest on a malformed digest
    return await asyncio.to_thread(path.is_file)


async def upload_blob(
    store: ModelStore, digest: str, body: AsyncIterator[bytes], max_bytes: int
) -> bool:
    return await receive_blob(store, digest, body, max_bytes)
