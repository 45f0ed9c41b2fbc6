"""One error shape per API family, chosen by path.

- ``/v1/...`` (OpenAI): ``{"error": {"message", "type", "param", "code"}}``
- ``/api/generate`` (the seed contract and Ollama): ``{"error": msg, "detail": msg}`` so that both
  kinds of client read it
- other ``/api/...`` (Ollama): ``{"error": msg}``
- everything else: ``{"detail": msg}``
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from starlette.types import Send

from ollama_gateway.schemas.errors import OllamaError, OpenAIError, PlainError, SeedError

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


def error_body(
    family: Family, status: int, message: str, param: str | None = None, *, route: bool = True
) -> bytes:
    """The error in ``family``'s shape. ``route=False``: the path itself is unknown (or the
    method), which OpenAI reports as an invalid request with a null ``code``."""
    if family == "openai":
        if route:
            kind = _OPENAI_TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
            code = _OPENAI_CODES.get(status)
        else:
            kind, code = "invalid_request_error", None
        body: dict[str, Any] = {
            "error": {"message": message, "type": kind, "param": param, "code": code}
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
    send: Send,
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


# --- the same shapes, declared for /openapi.json --------------------------------------------

_MODELS = {"openai": OpenAIError, "seed": SeedError, "ollama": OllamaError, "plain": PlainError}
_DESCRIPTIONS = {
    400: "Invalid request: the message names the field and the problem",
    401: "Missing or invalid API key (when keys are configured)",
    403: "The key's role does not allow this",
    404: "No such model",
    413: "Request body larger than the configured limit",
    429: "Rate limit reached; Retry-After says when to try again",
    500: "Internal error; the message carries the request id",
    502: "The upstream answered something unreadable",
    503: "Busy or the upstream is unavailable; Retry-After says when to try again",
    504: "The upstream did not answer in time",
}
EDGE = (401, 413, 429, 500)  # what the middleware may answer on any keyed route
UPSTREAM = (502, 503, 504)


def error_responses(family: Family, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its description, in ``family``'s shape.

    ``default`` covers every other status (405, a 404 for an unknown path...): the shape is the
    same. Validation problems are 400s, so no route answers FastAPI's 422.
    """
    model = _MODELS[family]
    out: dict[int | str, dict[str, Any]] = {
        status: {"model": model, "description": _DESCRIPTIONS[status]} for status in statuses
    }
    out["default"] = {"model": model, "description": "Any other error, in the same shape"}
    return out
