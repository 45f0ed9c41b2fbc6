"""Reading request bodies and writing JSON replies, the same way in every router."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ollama_gateway.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def request_id(request: Request) -> str:
    """The id the middleware gave this request (``X-Request-ID``)."""
    return request.scope.get("state", {}).get("request_id", "")


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line for the first problem pydantic found."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
    kind = first.get("type", "")
    if kind == "missing":
        return f"field {where!r} is required"
    if kind == "json_invalid":
        return "invalid JSON in request body"
    message = first.get("msg", "invalid value")
    return f"invalid {where!r}: {message}" if where else message


async def parse_body(request: Request, model: type[M]) -> M:
    """The request body validated as ``model``; any problem is a 400 with a clear message."""
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("invalid JSON in request body") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
