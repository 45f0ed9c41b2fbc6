"""Streams every router uses: the first item before the status, in-band errors, disconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_gateway.accounts.policy import public_message
from ollama_gateway.errors import GatewayError

log = logging.getLogger("ollama_gateway.api")

T = TypeVar("T")


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run ``work`` unless the client goes away first (then cancel it: the backend stops)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        raise asyncio.CancelledError("client disconnected")
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def stream_lines(
    first: Any,
    rest: AsyncIterator[Any],
    render: Callable[[Any], bytes],
    render_error: Callable[[str], bytes],
    request_id: str = "",
) -> AsyncIterator[bytes]:
    """Render an already-started stream; an error after it began goes in-band, then it ends."""
    async with aclosing(rest):
        try:
            yield render(first)
            async for item in rest:
                yield render(item)
        except GatewayError as exc:
            yield render_error(public_message(exc))
        except Exception:
            log.exception("stream failed (request %s)", request_id)
            yield render_error(f"internal error (request {request_id})")


async def start_stream(source: AsyncIterator[T]) -> tuple[T, AsyncIterator[T]]:
    """Wait for the first item so that errors before any output keep their HTTP status."""
    try:
        first = await source.__anext__()
    except StopAsyncIteration:
        raise GatewayError("the backend produced no output") from None
    except BaseException:
        await source.aclose()
        raise
    return first, source


def ndjson_response(body: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> Response:
    return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)
