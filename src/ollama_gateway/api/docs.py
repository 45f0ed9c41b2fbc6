"""Interactive API docs at ``/docs`` (Swagger UI) that work with no internet access.

The page is FastAPI's own Swagger UI page (``get_swagger_ui_html``) pointed at files served by
the gateway itself, under ``/docs/assets/``: the copy of swagger-ui's ``dist`` that the
``swagger-ui-py`` package ships (a dependency of the ``server`` extra). Nothing is fetched from a
CDN. ``/docs``, its assets and ``/openapi.json`` are behind the API key unless ``docs_public`` is
set; Swagger UI's "Authorize" button takes the key for "Try it out".

``/openapi.json`` is built on its first request, in a worker thread: FastAPI builds a pydantic
TypeAdapter per field, a second or more of CPU that must not stall the event loop.
"""

from __future__ import annotations

import asyncio
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from ollama_gateway.api.bodies import JSONResponse
from ollama_gateway.api.routes import Routes

DOCS = "/docs"
OPENAPI = "/openapi.json"
ASSETS = "/docs/assets"
JS, CSS, ICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"
PUBLIC_WHEN_ASKED = (DOCS, OPENAPI, *(f"{ASSETS}/{name}" for name in (JS, CSS, ICON)))

routes = Routes()


def swagger_ui_dir() -> Path:
    """Where the ``swagger-ui-py`` package keeps swagger-ui's files (without importing it)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the interactive docs need swagger-ui-py", name="swagger_ui")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@routes.get(DOCS, include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + OPENAPI,
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS}/{JS}",
        swagger_css_url=f"{root}{ASSETS}/{CSS}",
        swagger_favicon_url=f"{root}{ASSETS}/{ICON}",
    )


@routes.get(OPENAPI, include_in_schema=False)
async def openapi_json(request: Request) -> Response:
    app = request.app
    if app.openapi_schema is None:
        async with app.state.openapi_lock:
            if app.openapi_schema is None:
                await run_in_threadpool(app.openapi)
    return JSONResponse(app.openapi_schema)


def install(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs`` and the docs' assets."""
    app.state.openapi_lock = asyncio.Lock()
    routes.register(app.router)
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")
