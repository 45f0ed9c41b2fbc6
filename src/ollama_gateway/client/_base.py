"""What the sync and async clients share: URL, key, headers, timeouts, and reading responses.

Nothing here does I/O. :class:`Client` and :class:`AsyncClient` only move bytes; building a
request (:mod:`._calls`) and reading its answer (:meth:`BaseClient._read`, :func:`parse_lines`)
happen here, once.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from ollama_gateway import __version__
from ollama_gateway.client._errors import (
    IN_STREAM,
    GatewayConnectionError,
    GatewayTimeout,
    ResponseError,
    error_message,
)
from ollama_gateway.core.hosts import parse_host

T = TypeVar("T")

URL_ENV = "OLLAMA_GATEWAY_URL"
API_KEY_ENV = "OLLAMA_GATEWAY_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PORT = 8000

#: Connecting should be quick; a long generation or pull may legitimately take minutes between
#: the request and its first byte (a model loading), so reads get ten minutes.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


def parse_url(value: str | None, default_port: int = DEFAULT_PORT) -> str:
    """Turn what a user types for the gateway's address into a base URL.

    >>> parse_url(None)
    'http://127.0.0.1:8000'
    >>> parse_url('gateway.lan')
    'http://gateway.lan:8000'
    >>> parse_url(':9000')
    'http://127.0.0.1:9000'
    >>> parse_url('localhost:9000/')
    'http://localhost:9000'
    >>> parse_url('https://llm.example.com')
    'https://llm.example.com:443'
    >>> parse_url('http://10.0.0.5/gateway/')
    'http://10.0.0.5:80/gateway'
    >>> parse_url('[::1]:8001')
    'http://[::1]:8001'
    >>> parse_url('::1')
    'http://[::1]:8000'
    >>> parse_url('ftp://x')
    Traceback (most recent call last):
    ...
    ValueError: unsupported scheme 'ftp' in gateway URL 'ftp://x'
    """
    return parse_host(value, default_port, "gateway")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request, ready to send: method, path, JSON body, and how to read each object."""

    method: str
    path: str
    parse: Callable[[Mapping[str, Any]], T]
    body: dict[str, Any] | None = None
    stream: bool = False


class BaseClient:
    """URL, key, headers and timeouts; how a response becomes a typed object or an error.

    ``url`` defaults to ``$OLLAMA_GATEWAY_URL`` then ``http://127.0.0.1:8000``; ``api_key`` to
    ``$OLLAMA_GATEWAY_API_KEY``. The key is sent as ``Authorization: Bearer <key>`` and never
    appears in a URL, a log line or ``repr()``. Other keyword arguments go to the httpx client
    (``transport=``, ``verify=``...).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = parse_url(url or os.environ.get(URL_ENV))
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        merged = {
            "Accept": "application/json",
            "User-Agent": (
                f"ollama-gateway-client/{__version__} "
                f"({platform.machine()} {platform.system().lower()}) "
                f"Python/{platform.python_version()}"
            ),
        }
        merged.update(headers or {})
        lowered = {name.lower() for name in merged}
        if key.strip() and not lowered & {"authorization", "x-api-key"}:
            merged["Authorization"] = f"Bearer {key.strip()}"
        self._headers = merged
        self._timeout = timeout

    def _httpx_args(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "headers": self._headers,
            "timeout": self._timeout,
            "follow_redirects": True,
            **extra,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    @contextlib.contextmanager
    def _translate(self, call: Call[Any]) -> Iterator[None]:
        """Turn httpx transport errors into ours, naming the URL (and never the key)."""
        url = f"{self.url}{call.path}"
        try:
            yield
        except httpx.ConnectTimeout:
            raise GatewayConnectionError(url, "timed out connecting") from None
        except httpx.TimeoutException as exc:
            raise GatewayTimeout(url, type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise GatewayConnectionError(url, _reason(exc)) from None

    @staticmethod
    def _check(response: httpx.Response) -> None:
        """Raise :class:`ResponseError` for a 4xx/5xx; the body must have been read."""
        if response.is_error:
            raise ResponseError.from_body(
                response.status_code, response.content, response.reason_phrase
            )

    @staticmethod
    def _read(call: Call[T], response: httpx.Response) -> T:
        """A whole (non-streamed) answer; a streamed one is folded into one object."""
        BaseClient._check(response)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith(NDJSON_TYPES):
            return call.parse(fold(list(parse_lines(response.text.splitlines()))))
        if not response.content.strip():
            return call.parse({})
        try:
            data = response.json()
        except ValueError:
            raise ResponseError(
                response.status_code, f"the server sent invalid JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict):
            raise ResponseError(response.status_code, "the server sent JSON that is not an object")
        return call.parse(data)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    # httpx/httpcore messages like "[Errno 111] Connection refused": keep them short.
    return text.splitlines()[-1] if text else type(exc).__name__


def parse_lines(lines: Iterator[str] | list[str]) -> Iterator[dict[str, Any]]:
    """Decode NDJSON lines; an ``{"error": ...}`` line raises :class:`ResponseError`."""
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise ResponseError(
                IN_STREAM, f"the server sent an invalid line: {line[:200]!r}"
            ) from None
        if isinstance(data, dict):
            message = error_message(data) if "error" in data else None
            if message:
                raise ResponseError(IN_STREAM, message)
            yield data


def fold(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold a streamed answer into one object, as if it had been asked for without streaming.

    >>> fold([{"response": "He"}, {"response": "llo", "done": True, "eval_count": 2}])
    {'response': 'Hello', 'done': True, 'eval_count': 2}
    >>> fold([{"message": {"role": "assistant", "content": "O"}},
    ...       {"message": {"role": "assistant", "content": "k"}, "done": True}])["message"]
    {'role': 'assistant', 'content': 'Ok'}
    """
    if not parts:
        return {}
    out = dict(parts[-1])
    for key in ("response", "thinking"):
        if any(key in part for part in parts):
            out[key] = "".join(part.get(key) or "" for part in parts)
    messages = [part["message"] for part in parts if isinstance(part.get("message"), dict)]
    if messages:
        message = dict(messages[-1])
        for key in ("content", "thinking"):
            if any(key in m for m in messages):
                message[key] = "".join(m.get(key) or "" for m in messages)
        calls = [call for m in messages for call in (m.get("tool_calls") or [])]
        if calls:
            message["tool_calls"] = calls
        out["message"] = message
    return out
