"""Mounting the console's static files at ``/ui/`` with a strict Content-Security-Policy.

- ``GET /ui`` redirects to ``/ui/`` (relative ``Location``, so a path prefix added by a reverse
  proxy is kept); ``GET /ui/`` is ``index.html``; everything else under it is a file of
  ``static/`` or a 404. Nothing outside ``static/`` can be reached (Starlette's ``StaticFiles``
  refuses paths that leave its directory).
- Every answer under ``/ui`` carries :data:`SECURITY_HEADERS`: scripts, styles, images and API
  calls only from this origin; no inline script or style; DOM sinks that parse HTML strings are
  refused by Trusted Types (``require-trusted-types-for 'script'`` with no policy allowed), so
  text from a model can only ever become text nodes; no framing (``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY``); no referrer; ``Cache-Control: no-cache`` so that an upgraded
  gateway's files are picked up at once (revalidated by ``ETag``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_PATH = "/ui"
STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ("cache-control", "no-cache"),
)
_RAW_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS]


class _Guarded:
    """An ASGI app that adds :data:`SECURITY_HEADERS` to every response of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if n != b"cache-control"]
                message["headers"] = [*kept, *_RAW_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except HTTPException as exc:  # a missing file (404) or a method other than GET/HEAD
            message = "no such file in the console" if exc.status_code == 404 else "not allowed"
            answer = JSONResponse({"detail": message}, exc.status_code, headers=exc.headers)
            await answer(scope, receive, guarded)


async def _to_console(request: Request) -> Response:
    headers = dict(SECURITY_HEADERS)
    headers["location"] = CONSOLE_PATH.rsplit("/", 1)[-1] + "/"
    return Response(status_code=308, headers=headers)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/ui/`` (the caller decides whether, from the settings)."""
    app.add_route(CONSOLE_PATH, _to_console, methods=["GET", "HEAD"], include_in_schema=False)
    files = StaticFiles(directory=STATIC_DIR, html=True, follow_symlink=False)
    app.mount(CONSOLE_PATH, _Guarded(files), name="console")
