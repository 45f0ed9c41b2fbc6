"""One keep-alive connection of the upstream client: an asyncio protocol fed to httptools.

:class:`Connection` parses a reply into a head and body pieces for the one reader waiting on
it (:mod:`ollama_gateway.backends.upstream.http`), with flow control: the socket stops being
read while more than ``_HIGH_WATER`` bytes of body wait for the consumer. The client's errors
are defined here too.
"""

from __future__ import annotations

import asyncio
import collections
from typing import cast

import httptools

_HIGH_WATER = 256 << 10  # stop reading the socket when this much body waits for the consumer
_LOW_WATER = 64 << 10


class UpstreamHTTPError(Exception):
    """Base of the client's errors."""


class ConnectFailed(UpstreamHTTPError):
    """The server could not be reached, or closed the connection before replying."""


class ReadTimeout(UpstreamHTTPError):
    """Connecting, the reply's first byte, a read, or the whole exchange took too long."""


class ConnectionDropped(UpstreamHTTPError):
    """The connection ended (or the reply was malformed) after the reply began."""


class Connection(asyncio.Protocol):
    """One socket: parses replies into a head and body pieces for the waiting reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self.write_paused = False  # the transport's buffer is full (uploads wait for it)
        self._drain_waiter: asyncio.Future[None] | None = None
        self.parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.got_bytes = False
        self.head_done = False
        self.complete = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.until_close = False
        self.pieces: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.error: UpstreamHTTPError | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream connection: asyncio hands a Transport, typed as its base class
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionDropped(f"malformed HTTP reply: {exc}"))
            self.close()
            return
        if self.pieces:
            self._wake()  # once per read, however many body pieces it held

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self, timeout_at: float) -> None:
        """Wait until the transport takes more data (an upload's flow control)."""
        while self.write_paused and not self.closed:
            waiter = self._drain_waiter = self.loop.create_future()

            def expire(w: asyncio.Future[None] = waiter) -> None:
                if not w.done():
                    w.set_exception(ReadTimeout("timed out sending to the server"))

            handle = self.loop.call_at(timeout_at, expire)
            try:
                await waiter
            finally:
                handle.cancel()
                self._drain_waiter = None
        if self.closed and not self.head_done:
            raise self.error or ConnectionDropped("the server closed the connection")

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self.until_close and not self.complete:
            self.complete = True  # a reply without length ends with the connection
        elif not self.complete and self.error is None:
            reason = str(exc) if exc else "the server closed the connection"
            error_class = ConnectionDropped if self.got_bytes else ConnectFailed
            self.error = error_class(reason)
        self._wake()
        self._wake_drain()

    # -- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        headers = self.headers
        self.until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
            and self.status >= 200
            and self.status not in (204, 304)
        )
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # -- for the reader ---------------------------------------------------------------------
    def _fail(self, error: UpstreamHTTPError) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_timeout(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ReadTimeout("timed out reading from the server"))

    async def wait(self, timeout_at: float) -> None:
        """Wait for the next event (head, body, end, error) until the loop time ``timeout_at``."""
        if self.error is not None:
            raise self.error
        if self.paused and self.buffered <= _LOW_WATER and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        waiter = self._waiter = self.loop.create_future()
        handle = self.loop.call_at(timeout_at, self._on_timeout)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None
        if self.error is not None and not self.pieces:
            raise self.error

    def take(self) -> bytes:
        """All body bytes received so far."""
        pieces = self.pieces
        data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def start(self, request: bytes) -> None:
        self._reset()
        assert self.transport is not None
        self.transport.write(request)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()  # at once: no lingering, the server sees the reset
