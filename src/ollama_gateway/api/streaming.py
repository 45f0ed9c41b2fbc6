"""Streams every router uses: the first item before the status, in-band errors, disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from contextlib import aclosing
from typing import Any, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ollama_gateway.accounts.policy import public_message
from ollama_gateway.errors import GatewayError, ServiceUnavailable
from ollama_gateway.http.shutdown import SHUTDOWN_MESSAGE, ShutdownNotice

log = logging.getLogger("ollama_gateway.api")

T = TypeVar("T")


def _notice(scope: MutableMapping[str, Any]) -> ShutdownNotice | None:
    app = scope.get("app")
    return getattr(getattr(app, "state", None), "shutdown", None)


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run ``work`` unless the client goes away first (then cancel it: the backend stops).

    ``work`` runs in the request's own task; one watcher task waits for the client to leave and
    cancels it then, so the work's clean-up (the upstream connection closed, the model's slot
    given back) is done before this returns. A client that left raises
    :class:`~starlette.requests.ClientDisconnect` (logged as a 499); work still running when the
    shutdown grace period ends answers 503.
    """
    current = asyncio.current_task()
    assert current is not None, "called outside a task"
    left = False

    async def watch() -> None:
        nonlocal left
        await _wait_disconnect(request)
        left = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    notice = _notice(request.scope)
    tracking = notice.tracking() if notice is not None else contextlib.nullcontext()
    try:
        with tracking as me:
            try:
                result = await work
            except BaseException:
                if left:
                    current.uncancel()
                    raise ClientDisconnect() from None
                raise
            if left:  # it finished anyway: the cancellation it swallowed is taken back
                current.uncancel()
            return result
    except asyncio.CancelledError:
        if notice is None or not notice.stopped(me):
            raise
        raise ServiceUnavailable(SHUTDOWN_MESSAGE) from None
    finally:
        watcher.cancel()


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def stream_lines(
    first: Any,
    rest: AsyncGenerator[Any, None],
    render: Callable[[Any], bytes],
    render_error: Callable[[str], bytes],
    request_id: str = "",
) -> AsyncGenerator[bytes, None]:
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


async def start_stream(source: AsyncGenerator[T, None]) -> tuple[T, AsyncGenerator[T, None]]:
    """Wait for the first item so that errors before any output keep their HTTP status."""
    try:
        first = await source.__anext__()
    except StopAsyncIteration:
        raise GatewayError("the backend produced no output") from None
    except BaseException:
        await source.aclose()
        raise
    return first, source


class GatewayStream(StreamingResponse):
    """A streamed reply that ends with ``farewell`` (its API's in-band error) instead of being
    cut off when the server stops (see :mod:`ollama_gateway.http.shutdown`)."""

    def __init__(
        self, content: AsyncGenerator[bytes, None], farewell: bytes, **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self.content = content  # what ``body_iterator`` is, with its generator type
        self.farewell = farewell

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        notice = _notice(scope)
        if notice is not None:
            self.body_iterator = notice.guard(self.content, self.farewell)
        await super().__call__(scope, receive, send)


_NDJSON_FAREWELL = orjson.dumps({"error": SHUTDOWN_MESSAGE}) + b"\n"


def ndjson_response(
    body: AsyncGenerator[bytes, None], headers: dict[str, str] | None = None
) -> Response:
    return GatewayStream(body, _NDJSON_FAREWELL, media_type="application/x-ndjson", headers=headers)
