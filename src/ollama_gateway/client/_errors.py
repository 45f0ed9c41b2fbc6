"""What the client raises.

    ClientError                    base of everything below
    ├── ResponseError              the server answered with an error (status_code, message)
    ├── GatewayConnectionError     no connection to the server (also a builtin ConnectionError)
    └── GatewayTimeout             the server did not answer in time (also a builtin TimeoutError)

Transport errors are re-raised ``from None``: the message names the URL, and a traceback through
httpx's internals tells a user nothing more.
"""

from __future__ import annotations

import json
from typing import Any

#: ``status_code`` of an error the server sent in-band, after a stream had begun with ``200``.
IN_STREAM = -1


class ClientError(Exception):
    """Base of every error this client raises."""


class ResponseError(ClientError):
    """The server refused or failed the request.

    ``status_code`` is the HTTP status (``IN_STREAM``, -1, for an error line inside a stream);
    ``message`` is the server's ``error`` or ``detail`` text.
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message

    def __str__(self) -> str:
        if self.status_code == IN_STREAM:
            return self.message
        return f"{self.message} (status {self.status_code})"

    @classmethod
    def from_body(cls, status_code: int, body: bytes | str, reason: str = "") -> ResponseError:
        """Read the message out of an error body: ``{"error": ...}`` or ``{"detail": ...}``.

        A body that is not ours (a proxy's HTML page, plain text) gives one short line.

        >>> str(ResponseError.from_body(502, b"<html><body>nginx</body></html>", "Bad Gateway"))
        'Bad Gateway (status 502)'
        >>> ResponseError.from_body(500, b"  upstream\\n  exploded  ").message
        'upstream exploded'
        """
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        message = error_message(data) if isinstance(data, dict) else None
        if message is None:
            line = " ".join(text.split())
            if line.startswith("<"):  # an HTML error page: its status says more than its markup
                line = ""
            message = _shorten(line) or reason or f"HTTP {status_code}"
        return cls(status_code, message)


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_message(data: dict[str, Any]) -> str | None:
    """The human message of an error object, in any of the shapes our APIs use.

    >>> error_message({"error": "model 'x' not found"})
    "model 'x' not found"
    >>> error_message({"detail": "Invalid or missing API key"})
    'Invalid or missing API key'
    >>> error_message({"error": {"message": "bad", "type": "invalid_request_error"}})
    'bad'
    >>> error_message({"detail": [{"loc": ["body", "prompt"], "msg": "Field required"}]})
    'body.prompt: Field required'
    >>> error_message({"response": "hi"}) is None
    True
    """
    for key in ("error", "detail"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
        if isinstance(value, list) and value:
            return "; ".join(_validation_item(item) for item in value)
    return None


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", ()))
    msg = str(item.get("msg", item))
    return f"{loc}: {msg}" if loc else msg


class GatewayConnectionError(ClientError, ConnectionError):
    """The server at ``url`` could not be reached."""

    def __init__(self, url: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"cannot connect to the gateway at {url}{detail}")
        self.url = url
        self.reason = reason


class GatewayTimeout(ClientError, TimeoutError):
    """The server at ``url`` took longer than the client's timeout."""

    def __init__(self, url: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"the gateway at {url} did not answer in time{detail}")
        self.url = url
        self.reason = reason
