"""Reading request bodies and writing JSON replies, the same way in every router.

Routes declare their body as a parameter typed with a wire model
(:mod:`ollama_gateway.schemas`); FastAPI reads and validates it, and documents it in
``/openapi.json``. Every router uses :class:`JSONBodyRoute`, which parses JSON with orjson (it
rejects ``NaN``, infinities and lone surrogates, which the standard library lets through) and is
otherwise FastAPI's own route. A validation problem is a 400 in the API's own shape with one
readable line, written by :func:`describe_validation_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class JSONBodyRequest(Request):
    """Starlette's request, with the body parsed by orjson."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class JSONBodyRoute(APIRoute):
    """FastAPI's route with :class:`JSONBodyRequest` (FastAPI's documented way to customise the
    request a route reads)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(JSONBodyRequest(request.scope, request.receive))

        return route_handler


def request_id(request: Request) -> str:
    """The id the middleware gave this request (``X-Request-ID``)."""
    state: dict[str, Any] = request.scope.get("state", {})
    return str(state.get("request_id", ""))


def describe_validation_errors(errors: Sequence[dict[str, Any]]) -> str:
    """One readable line for the first problem found in a request body.

    >>> describe_validation_errors([{"type": "missing", "loc": ("body", "prompt")}])
    "field 'prompt' is required"
    >>> describe_validation_errors([{"type": "missing", "loc": ("body",)}])
    'request body is empty; expected a JSON object'
    >>> describe_validation_errors([{"type": "string_type", "loc": ("body", "a", 0), "msg": "no"}])
    "invalid 'a.0': no"
    """
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ())]
    if loc[:1] == ["body"]:
        loc = loc[1:]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "invalid JSON in request body"
    if not loc:
        if kind == "missing":
            return "request body is empty; expected a JSON object"
        return "request body must be a JSON object"
    where = ".".join(loc)
    if kind == "missing":
        return f"field {where!r} is required"
    return f"invalid {where!r}: {first.get('msg', 'invalid value')}"
