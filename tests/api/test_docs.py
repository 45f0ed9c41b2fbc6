"""docs/api.md stays true: every API route the app serves is in its endpoint table."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from ollama_gateway.app import create_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def _api_routes(routes) -> list[APIRoute]:
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if inner is not None:
            found.extend(_api_routes(inner.routes))
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def test_every_api_route_is_documented(make_settings):
    app = create_app(make_settings())
    routes = [
        (method, route.path.replace("{model_id:path}", "{id}"))
        for route in _api_routes(app.routes)
        if route.path.startswith(("/api/", "/v1/"))
        for method in route.methods
    ]
    assert len(routes) >= 16
    missing = [f"{m} {p}" for m, p in routes if f"| `{m} {p}` |" not in DOC]
    assert missing == []
