"""Requests to one upstream server with its replies and failures mapped to domain errors.

Shared by the Ollama and the OpenAI-compatible backends. Timeouts: ``connect_timeout`` to
connect; a streamed reply must produce its first bytes within ``first_token_timeout`` and never
stall longer than that between pieces; the whole exchange is bounded by ``total_timeout``.

Failures, as :mod:`ollama_gateway.errors`: a refused or unreachable server is
:class:`UpstreamUnavailable`; no answer in time :class:`UpstreamTimeout`; a connection dropped
or a reply we cannot read :class:`UpstreamBadResponse`; the server's own error statuses keep
their meaning (400, 404 model not found, 429, 503 busy) and other 5xx are
:class:`UpstreamServerError` with the status. Error messages are the server's own (from
Ollama's ``{"error": "..."}`` or OpenAI's ``{"error": {"message": "..."}}``), never a header.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar, overload

import orjson

from ollama_gateway.backends.upstream.http import (
    ConnectFailed,
    ConnectionDropped,
    ReadTimeout,
    Response,
    UpstreamClient,
    UpstreamHTTPError,
)
from ollama_gateway.errors import (
    BadRequest,
    ModelNotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamBusy,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

MAX_LINE = 64 << 20  # a single line larger than this is not a reply we can use
MAX_ERROR_BODY = 65536
T = TypeVar("T")


def _same(line: bytes) -> bytes:
    return line


class Exchange:
    """One upstream base URL: pooled connections, deadlines, and errors in domain terms.

    ``label`` names the server in messages (``Ollama``, ``the OpenAI-compatible server``).
    """

    def __init__(
        self,
        url: str,
        label: str,
        *,
        connect_timeout: float,
        first_token_timeout: float,
        total_timeout: float,
        headers: Mapping[str, str] | None = None,
        address: str | None = None,
        limit: int = 256,
    ) -> None:
        self.url = url
        self.label = label
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout
        self._headers = dict(headers or {})
        self._address = address
        self._limit = limit
        self._client: UpstreamClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = UpstreamClient(
                self.url,
                limit=self._limit,
                connect_timeout=self.connect_timeout,
                headers=self._headers,
                address=self._address,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            raise RuntimeError("start() was not awaited")
        return self._client

    # -- errors -----------------------------------------------------------------------------
    def unreachable(self, exc: BaseException) -> UpstreamUnavailable:
        reason = str(exc) or type(exc).__name__
        return UpstreamUnavailable(
            f"cannot reach {self.label} at {self.url}: {reason}", retry_after=5
        )

    def late(self, what: str = "did not answer in time") -> UpstreamTimeout:
        return UpstreamTimeout(f"{self.label} at {self.url} {what}")

    async def raise_for_status(self, resp: Response, model: str | None) -> None:
        if resp.status < 400:
            return
        try:
            raw = (await resp.read())[:MAX_ERROR_BODY]
        except UpstreamHTTPError:
            raw = b""
        message = error_message(raw) or f"{self.label} answered {resp.status}"
        if resp.status == 404:
            raise ModelNotFound(model or "", message)
        if resp.status in (400, 422):
            raise BadRequest(message)
        if resp.status == 429:
            raise RateLimited(message, retry_after=_retry_after(resp, 1.0))
        if resp.status == 503:
            raise UpstreamBusy(message, retry_after=_retry_after(resp, 1.0))
        if resp.status >= 500:
            raise UpstreamServerError(message, upstream_status=resp.status)
        raise UpstreamBadResponse(f"{self.label} answered {resp.status}: {message}")

    # -- requests ---------------------------------------------------------------------------
    async def send(
        self, method: str, path: str, body: Any, model: str | None, read_timeout: float
    ) -> Response:
        """The reply's head (a 4xx/5xx raised as its error); the caller reads or closes it."""
        data = orjson.dumps(body) if body is not None else None
        try:
            resp = await self.client.request(
                method, path, data, read_timeout=read_timeout, total_timeout=self.total_timeout
            )
        except ConnectFailed as exc:
            raise self.unreachable(exc) from None
        except ReadTimeout:
            raise self.late() from None
        except ConnectionDropped as exc:
            raise UpstreamBadResponse(f"{self.label} closed the connection: {exc}") from None
        try:
            await self.raise_for_status(resp, model)
        except BaseException:
            resp.close()
            raise
        return resp

    async def json(self, method: str, path: str, body: Any = None, model: str | None = None) -> Any:
        """A whole JSON reply (None for an empty body)."""
        resp = await self.send(method, path, body, model, self.total_timeout)
        try:
            async with resp:
                raw = await resp.read()
        except ReadTimeout:
            raise self.late() from None
        except UpstreamHTTPError as exc:
            raise UpstreamBadResponse(f"{self.label} closed the connection: {exc}") from None
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamBadResponse(f"malformed reply from {self.label} (not JSON)") from None

    @overload
    def lines(self, path: str, body: Any, model: str | None) -> AsyncGenerator[bytes, None]: ...

    @overload
    def lines(
        self, path: str, body: Any, model: str | None, decode: Callable[[bytes], T]
    ) -> AsyncGenerator[T, None]: ...

    async def lines(
        self, path: str, body: Any, model: str | None, decode: Callable[[bytes], Any] = _same
    ) -> AsyncGenerator[Any, None]:
        """The non-blank lines of a streamed reply (NDJSON, or SSE's ``data:`` lines), each
        passed through ``decode``."""
        async with aclosing(self.batches(path, body, model)) as batches:
            async for batch in batches:
                for line in batch:
                    yield decode(line)

    async def batches(
        self, path: str, body: Any, model: str | None
    ) -> AsyncGenerator[list[bytes], None]:
        """The non-blank lines of a streamed reply, as many at a time as have arrived: a reader
        that falls behind takes several lines in one step (and can forward them in one write).

        The wait for the head and between pieces is bounded by the first-token timeout.
        """
        wait = self.first_token_timeout
        resp = await self.send("POST", path, body, model, wait)
        try:
            async with resp:
                buffer = b""
                async for piece in resp:
                    buffer += piece
                    if len(buffer) > MAX_LINE:
                        raise UpstreamBadResponse(
                            f"malformed reply from {self.label} (line too long)"
                        )
                    *lines, buffer = buffer.split(b"\n")
                    if lines:
                        batch = [line for line in lines if line.strip()]
                        if batch:
                            yield batch
                if buffer.strip():
                    yield [buffer]
        except ReadTimeout:
            raise self.late("stopped answering") from None
        except UpstreamHTTPError:
            raise UpstreamBadResponse(f"{self.label} closed the connection mid-stream") from None

    async def probe(self, path: str, timeout: float = 2.0) -> tuple[bool, str]:
        """Whether ``GET path`` answers 200 within ``timeout``, and why not."""
        timeout = min(timeout, self.total_timeout)
        try:
            resp = await self.client.request(
                "GET", path, read_timeout=timeout, total_timeout=timeout
            )
            async with resp:
                await resp.read()
        except ConnectFailed as exc:
            return False, str(self.unreachable(exc))
        except UpstreamHTTPError as exc:
            return False, f"cannot reach {self.label} at {self.url}: {exc}"
        if resp.status == 200:
            return True, ""
        return False, f"{self.label} answered {resp.status}"


def error_message(raw: bytes) -> str:
    """The message of an error body in Ollama's, OpenAI's or FastAPI's shape, else its text.

    >>> error_message(b'{"error": "no"}'), error_message(b'{"error": {"message": "nope"}}')
    ('no', 'nope')
    >>> error_message(b'{"detail": "x"}'), error_message(b'plain words')
    ('x', 'plain words')
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip()[:500]
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    found = error or data.get("message") or data.get("detail") or ""
    if isinstance(found, list | dict):  # e.g. FastAPI's validation details
        found = orjson.dumps(found).decode()
    return str(found)[:2000]


def _retry_after(resp: Response, default: float) -> float:
    try:
        return float(resp.headers.get("retry-after", default))
    except ValueError:
        return default
