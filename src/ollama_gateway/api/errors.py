"""One error shape per API family, chosen by path.

- ``/v1/...`` (OpenAI): ``{"error": {"message", "type", "param", "code"}}``
- ``/api/generate`` (the seed contract and Ollama): ``{"error": msg, "detail": msg}`` so that both
  kinds of client read it
- other ``/api/...`` (Ollama): ``{"error": msg}``
- everything else: ``{"detail": msg}``
"""

from __future__ import annotations

from typing import Literal

import orjson

Family = Literal["openai", "seed", "ollama", "plain"]

AUTH_MESSAGE = "Invalid or missing API key"

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def family_of(path: str) -> Family:
    if path.startswith("/v1/") or path == "/v1":
        return "openai"
    if path.rstrip("/") == "/api/generate":
        return "seed"
    if path.startswith("/api/"):
        return "ollama"
    return "plain"


def error_body(family: Family, status: int, message: str, param: str | None = None) -> bytes:
    if family == "openai":
        kind = _OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body: dict = {
            "error": {
                "message": message,
                "type": kind,
                "param": param,
                "code": _OPENAI_CODES.get(status),
            }
        }
    elif family == "seed":
        body = {"detail": message, "error": message}
    elif family == "ollama":
        body = {"error": message}
    else:
        body = {"detail": message}
    return orjson.dumps(body)


def error_headers(body: bytes, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    for name, value in (extra or {}).items():
        headers.append((name.lower().encode(), value.encode()))
    return headers


async def send_error(
    send,
    path: str,
    status: int,
    message: str,
    extra_headers: dict[str, str] | None = None,
) -> None:
    """Answer an ASGI request with an error in its API's shape (for middleware)."""
    body = error_body(family_of(path), status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": error_headers(body, extra_headers),
        }
    )
    await send({"type": "http.response.body", "body": body})
