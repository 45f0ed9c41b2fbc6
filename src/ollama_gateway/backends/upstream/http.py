"""A lean keep-alive HTTP/1.1 client for upstream LLM servers: asyncio protocols + httptools.

The one client for every upstream the gateway generates from (Ollama, OpenAI-compatible servers):
generations, probes, model discovery and pass-through pulls. It was chosen by measurement over
aiohttp and httpx (client CPU per request, same run; see ``bench/README.md``).

One :class:`UpstreamClient` per base URL keeps a bounded pool of idle keep-alive connections.
A request is written in one ``transport.write`` (head and body); the reply is parsed by
httptools' C parser (``Content-Length``, chunked, or read until close) and handed out as a
:class:`Response` whose body is read whole or iterated piece by piece, with flow control (the
socket stops being read while the consumer lags).

Errors (all :class:`UpstreamHTTPError`): :class:`ConnectFailed` (could not connect, or a
connection ended before any byte of the reply), :class:`ReadTimeout` (connect, first byte,
between reads, or the total deadline), :class:`ConnectionDropped` (the connection ended or the
reply could not be parsed after it began). A pooled connection that fails before any byte of the
reply is retried once on a fresh connection (the server had closed it while idle).

A response that is closed before its body was read to the end closes its connection (for a
stream, that tells Ollama to stop generating); only complete keep-alive exchanges go back to the
pool.

Per-upstream ``headers`` (credentials such as ``Authorization: Bearer ...``) are rendered once
into every request's head; they are never logged or put in an error message. ``address``
connects somewhere else than the URL's host (one address a DNS name resolved to) while the
``Host`` header and TLS server name stay the URL's.
"""

from __future__ import annotations

import asyncio
import collections
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

from ollama_gateway.backends.upstream.connection import (
    ConnectFailed,
    Connection,
    ConnectionDropped,
    ReadTimeout,
    UpstreamHTTPError,
)

__all__ = [
    "ConnectFailed",
    "ConnectionDropped",
    "ReadTimeout",
    "Response",
    "UpstreamClient",
    "UpstreamHTTPError",
]


def _header_lines(headers: Mapping[str, str] | None) -> str:
    """``Name: value\\r\\n`` lines; a name or value that could split the head is refused."""
    lines = []
    for name, value in (headers or {}).items():
        if not name or any(c in name for c in ":\r\n ") or any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} has a character that is not allowed")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


class Response:
    """An HTTP reply: ``status``, ``headers`` (lower-case names), then its body.

    Read the body with :meth:`read` or ``async for piece in response``; :meth:`close` (or the
    end of the body) releases the connection.
    """

    def __init__(
        self, client: UpstreamClient, conn: Connection, read_timeout: float, deadline: float
    ) -> None:
        self._client = client
        self._conn: Connection | None = conn
        self._read_timeout = read_timeout
        self._deadline = deadline
        self.status = conn.status
        self.headers = conn.headers

    def _timeout_at(self) -> float:
        return min(self._deadline, self._client.loop.time() + self._read_timeout)

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        if conn is None:
            return b""
        parts = []
        try:
            while True:
                if conn.pieces:
                    parts.append(conn.take())
                if conn.complete:
                    break
                await conn.wait(self._timeout_at())
        finally:
            self.close()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                if conn.pieces:
                    yield conn.take()
                    continue
                if conn.complete:
                    break
                await conn.wait(self._timeout_at())
        finally:
            self.close()

    def close(self) -> None:
        """Give the connection back if the reply was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._release(conn, conn.complete and not conn.pieces)

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class UpstreamClient:
    """Requests to one ``http://`` or ``https://`` base URL over pooled keep-alive connections.

    ``limit`` bounds the connections in use at once (a request beyond it waits, within its
    total timeout); ``max_idle`` the keep-alive connections kept for reuse, each for at most
    ``idle_expiry`` seconds; ``ssl`` replaces the default (verifying) context for ``https://``;
    ``headers`` are sent with every request; ``address`` is where to connect (default: the
    URL's host).
    """

    def __init__(
        self,
        base_url: str,
        *,
        limit: int = 256,
        max_idle: int = 64,
        idle_expiry: float = 15.0,
        connect_timeout: float = 5.0,
        ssl: ssl_module.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        address: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.address = address or parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = None
        if parts.scheme == "https":  # certificates verified, as by default in aiohttp
            self._ssl = ssl or ssl_module.create_default_context()
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None:
            host_header += f":{parts.port}"
        self._prefix = parts.path.rstrip("/")
        self._host_line = (
            f"Host: {host_header}\r\nUser-Agent: ollama-gateway\r\n{_header_lines(headers)}"
        )
        self.connect_timeout = connect_timeout
        self._idle: list[Connection] = []
        self._max_idle = max_idle
        self._idle_expiry = idle_expiry
        self._limit = limit
        self._in_use = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._open: set[Connection] = set()
        self.connections_made = 0  # for tests and diagnostics
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _head(self, method: str, path: str, body: bytes | None) -> bytes:
        target = f"{self._prefix}/{path.lstrip('/')}"
        if body is None:
            head = f"{method} {target} HTTP/1.1\r\n{self._host_line}Accept-Encoding: identity\r\n"
            return (head + "\r\n").encode()
        return (
            f"{method} {target} HTTP/1.1\r\n{self._host_line}Content-Type: application/json\r\n"
            f"Accept-Encoding: identity\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        read_timeout: float,
        total_timeout: float,
    ) -> Response:
        """Send a request; returns once the reply's head has arrived.

        ``read_timeout`` bounds the wait for the first byte and between reads of the body;
        ``total_timeout`` the whole exchange, body included.
        """
        loop = self.loop
        deadline = loop.time() + total_timeout
        request = self._head(method, path, body)
        await self._acquire_slot(deadline)
        try:
            conn = self._pooled()
            if conn is not None:
                try:
                    return await self._exchange(conn, request, read_timeout, deadline)
                except ConnectFailed:
                    pass  # stale keep-alive connection: once more, on a fresh one
            conn = await self._connect(deadline)
            return await self._exchange(conn, request, read_timeout, deadline)
        except BaseException:
            self._release_slot()
            raise

    async def send_stream(
        self,
        method: str,
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str,
        read_timeout: float,
        total_timeout: float,
    ) -> Response:
        """Send a request whose body is ``chunks`` (chunked transfer encoding, with flow
        control), on a fresh connection; returns once the reply's head has arrived. A server
        that answers before the body is sent (a blob it already holds) ends the upload."""
        loop = self.loop
        deadline = loop.time() + total_timeout
        target = f"{self._prefix}/{path.lstrip('/')}"
        head = (
            f"{method} {target} HTTP/1.1\r\n{self._host_line}Content-Type: {content_type}\r\n"
            "Accept-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        await self._acquire_slot(deadline)
        try:
            conn = await self._connect(deadline)
            try:
                conn.start(head)
                assert conn.transport is not None
                async for chunk in chunks:
                    if conn.head_done or conn.closed:
                        conn.keep_alive = False  # the request was cut short
                        break
                    if chunk:
                        conn.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                        await conn.drain(deadline)
                else:
                    conn.transport.write(b"0\r\n\r\n")
                while not conn.head_done:
                    await conn.wait(min(deadline, loop.time() + read_timeout))
            except BaseException:
                self._discard(conn)
                raise
            return Response(self, conn, read_timeout, deadline)
        except BaseException:
            self._release_slot()
            raise

    async def _acquire_slot(self, deadline: float) -> None:
        if self._in_use < self._limit:
            self._in_use += 1
            return
        waiter = self.loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, max(0.0, deadline - self.loop.time()))
        except asyncio.TimeoutError:
            raise ReadTimeout("timed out waiting for a free connection") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot just as we gave up: pass it on
            raise

    def _release_slot(self) -> None:
        """Hand the slot to the next waiter, or free it."""
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; _in_use stays
                return
        self._in_use -= 1

    def _pooled(self) -> Connection | None:
        now = time.monotonic()
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._idle_expiry:
                conn.reused = True
                return conn
            self._discard(conn)
        return None

    async def _connect(self, deadline: float) -> Connection:
        loop = self.loop
        timeout = max(0.0, min(self.connect_timeout, deadline - loop.time()))
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(loop),
                    self.address,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise ReadTimeout("timed out connecting") from None
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc) or type(exc).__name__) from None
        self.connections_made += 1
        self._open.add(conn)
        return conn

    async def _exchange(
        self, conn: Connection, request: bytes, read_timeout: float, deadline: float
    ) -> Response:
        loop = self.loop
        try:
            conn.start(request)
            while not conn.head_done:
                await conn.wait(min(deadline, loop.time() + read_timeout))
        except BaseException:
            self._discard(conn)
            raise
        return Response(self, conn, read_timeout, deadline)

    def _release(self, conn: Connection, reusable: bool) -> None:
        self._release_slot()
        if reusable and conn.keep_alive and not conn.closed and len(self._idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: Connection) -> None:
        self._open.discard(conn)
        conn.close()

    async def close(self) -> None:
        """Close every connection, idle or in use."""
        self._idle.clear()
        for conn in list(self._open):
            self._discard(conn)
