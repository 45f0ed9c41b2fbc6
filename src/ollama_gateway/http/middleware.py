"""The gateway's ASGI middleware: one pass that every request goes through.

It normalises a trailing slash (``/api/generate/`` answers like ``/api/generate``, no redirect),
gives the request an id (``X-Request-ID``, taken from the client or generated), checks the API
key (a 401 carries ``WWW-Authenticate``), bounds the body size, and turns any unexpected
exception into a short 500 in the API's own shape (the traceback goes to the log with the request
id). A client that left before its answer (mid-upload, or while a non-streamed reply was being
made) is no error: nothing is sent or logged here, and the access log records a 499. The
access-log line and the request metrics are written by :mod:`ollama_gateway.http.access`, the
layer around this one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from secrets import token_hex
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_gateway.accounts.roles import authorize, is_limited
from ollama_gateway.api.errors import AUTH_MESSAGE, send_error
from ollama_gateway.core.usage import current_usage
from ollama_gateway.errors import GatewayError, PayloadTooLarge
from ollama_gateway.http.auth import (
    WWW_AUTHENTICATE,
    WWW_AUTHENTICATE_INVALID,
    presented_key,
)

if TYPE_CHECKING:
    from ollama_gateway.accounts.admission import Admission, Gate
    from ollama_gateway.accounts.cache import KeyCache
    from ollama_gateway.accounts.records import KeyRecord

errlog = logging.getLogger("ollama_gateway.errors")

PUBLIC = {
    ("GET", "/health"),
    ("HEAD", "/health"),
    ("HEAD", "/"),
    ("GET", "/ready"),
    ("HEAD", "/ready"),
}
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")[:128]
            if text and all(c in _REQUEST_ID_OK for c in text):
                return text
            break
    return token_hex(16)  # 32 hex digits like uuid4().hex: 0.9 us here against 5.2 (timeit)


def _is_preflight(scope: Scope, headers: list[tuple[bytes, bytes]]) -> bool:
    if scope["method"] != "OPTIONS":
        return False
    names = {name for name, _ in headers}
    return b"origin" in names and b"access-control-request-method" in names


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        keyring: KeyCache,
        max_body_bytes: int,
        public_paths: Collection[str] = (),
        limiter: Gate | None = None,
        public_prefixes: Collection[str] = (),
        max_blob_bytes: int | None = None,  # POST /api/blobs/... (model uploads)
    ) -> None:
        self.app = app
        self.max_blob = max_blob_bytes or max_body_bytes
        self.keyring = keyring
        self.max_body = max_body_bytes
        self.public = PUBLIC | {("GET", p) for p in public_paths}
        # GET/HEAD of a path under one of these (the console's files) needs no key; their paths
        # are kept as they are (a directory's trailing slash matters to relative URLs).
        self.open_trees = tuple(public_prefixes)
        self.limiter = limiter if limiter is not None and limiter.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        open_tree = self._in_open_tree(scope, path)
        if len(path) > 1 and path.endswith("/") and not open_tree:
            path = path.rstrip("/") or "/"
            scope = dict(scope, path=path, raw_path=path.encode())
        public = open_tree or (scope["method"], path) in self.public
        headers = scope["headers"]
        request_id = _request_id(headers)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started
        id_header = (b"x-request-id", request_id.encode())
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        reply: Send = send_wrapper  # with the rate-limit headers once admitted
        try:
            admitted = await self._admit(scope, path, headers, public, state, send_wrapper)
            if admitted is None:
                return  # answered 401
            admission, reply = admitted
            receive = self._limit_body(scope, headers, receive)
            try:
                await self.app(scope, receive, reply)
            finally:
                if admission is not None and admission.releases:
                    admission.release()
        except GatewayError as exc:
            if response_started:
                raise
            await send_error(reply, path, exc.status_code, exc.message, exc.headers())
        except ClientDisconnect:
            return  # the client left: no one to answer (the access log says 499)
        except Exception:
            if state.get("client_gone") and not response_started:
                return  # whatever failed, it failed because the client left

            errlog.exception(
                "unhandled error in %s %s (request %s)", scope["method"], path, request_id
            )
            if response_started:
                raise
            await send_error(reply, path, 500, f"internal error (request {request_id})")

    async def _admit(
        self,
        scope: Scope,
        path: str,
        headers: list[tuple[bytes, bytes]],
        public: bool,
        state: dict[str, Any],
        send: Send,
    ) -> tuple[Admission | None, Send] | None:
        """The key check (401, answered here: None), the key's role (403) and rate limits
        (429): the admission to release when done and the ``send`` that adds its headers."""
        key: KeyRecord | None = None
        if self.keyring.enabled and not public and not _is_preflight(scope, headers):
            presented, any_credential = presented_key(headers)
            key = self.keyring.match(presented)
            if key is None:
                challenge = WWW_AUTHENTICATE_INVALID if any_credential else WWW_AUTHENTICATE
                await send_error(send, path, 401, AUTH_MESSAGE, {"WWW-Authenticate": challenge})
                return None
            authorize(key, scope["method"], path)  # the key's role: 403 in the API's shape
        state["api_key"] = key
        if (
            self.limiter is None
            or public
            or not is_limited(scope["method"], path)  # not scrapes, /status, /me, the admin API
        ):
            return None, send
        client = scope.get("client")
        admission = await self.limiter.admit(key, client[0] if client else None)  # 429
        if admission is None:
            return None, send
        current_usage.set(admission.usage)
        return admission, _adding_headers(send, admission.headers)

    def _in_open_tree(self, scope: Scope, path: str) -> bool:
        if not self.open_trees or scope["method"] not in ("GET", "HEAD"):
            return False
        return any(path == tree or path.startswith(tree + "/") for tree in self.open_trees)

    def _limit_body(
        self, scope: Scope, headers: list[tuple[bytes, bytes]], receive: Receive
    ) -> Receive:
        limit = self.max_body
        if scope["method"] == "POST" and scope["path"].startswith("/api/blobs/"):
            limit = self.max_blob
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
                break
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            return message

        return limited


def _adding_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``headers`` to the response start (the rate-limit headers)."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return sender
