"""Route tables: each API family declares its routes on a :class:`Routes`; the app registers them.

A :class:`Routes` takes FastAPI's own decorator arguments (``@routes.post(path, responses=...)``),
and :meth:`Routes.register` adds each route to the app's router with ``add_api_route``, the call
behind ``@app.post``. The routes so sit directly in the app's route list, with the app as their
dependency-overrides provider, exactly as if they had been declared on the app.

Why not ``APIRouter`` + ``include_router``: FastAPI (0.16x) keeps an included router as a node
that it matches level by level on every request (and whose routes it rebuilds on the first
request through it); a request to a route in an included router runs 10-19% more bytecode in this
app than the same route declared on the app (``bench/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.routing import APIRoute, APIRouter

Endpoint = Callable[..., Any]
E = TypeVar("E", bound=Endpoint)


class Routes:
    """Routes of one API family: a common path ``prefix``, ``tags`` and ``responses``."""

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: list[str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        route_class: type[APIRoute] = APIRoute,
    ) -> None:
        self.prefix = prefix
        self.tags = list(tags or ())
        self.responses = dict(responses or {})
        self.route_class = route_class
        self.declared: list[tuple[str, Endpoint, list[str], dict[str, Any]]] = []

    def api_route(self, path: str, *, methods: list[str], **options: Any) -> Callable[[E], E]:
        def declare(endpoint: E) -> E:
            self.declared.append((self.prefix + path, endpoint, methods, options))
            return endpoint

        return declare

    def get(self, path: str, **options: Any) -> Callable[[E], E]:
        return self.api_route(path, methods=["GET"], **options)

    def head(self, path: str, **options: Any) -> Callable[[E], E]:
        return self.api_route(path, methods=["HEAD"], **options)

    def post(self, path: str, **options: Any) -> Callable[[E], E]:
        return self.api_route(path, methods=["POST"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[E], E]:
        return self.api_route(path, methods=["DELETE"], **options)

    def register(self, router: APIRouter) -> None:
        """Add every declared route to ``router`` (the app's: ``app.router``)."""
        for path, endpoint, methods, options in self.declared:
            router.add_api_route(
                path,
                endpoint,
                methods=methods,
                tags=[*self.tags, *options.get("tags", ())],
                responses={**self.responses, **options.get("responses", {})},
                route_class_override=self.route_class,
                **{k: v for k, v in options.items() if k not in ("tags", "responses")},
            )
