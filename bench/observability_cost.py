"""Per-request cost of the observability layer on the seed call, measured in-process.

    python bench/observability_cost.py [N]

Drives the ASGI app directly (no sockets, a backend that answers at once), so what is left is the
gateway's own work per request, counted in CPU time of this process (rounds interleaved, the
minimum reported) so that other load on the machine does not count. Builds of the same app:
everything on (access log in text, then JSON, to /dev/null through the real formatter); the
middleware with its access log off; without the middleware; without it and without the service's
generation observer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from asgi_drive import drive, http_scope, instant_backend
from ollama_gateway.app import create_app
from ollama_gateway.http.access import ObservabilityMiddleware
from ollama_gateway.observability.logs import configure_logging, make_formatter
from ollama_gateway.settings import Settings

BODY = b'{"prompt": "Why is the sky blue?"}'


async def _one(app) -> int:
    return await drive(app, http_scope("POST", "/api/generate", BODY), BODY)


def build(middleware: bool):
    app = create_app(Settings(_env_file=None), backend=instant_backend())
    if not middleware:
        app.user_middleware = [
            m for m in app.user_middleware if m.cls is not ObservabilityMiddleware
        ]
    return app


async def main(n: int, rounds: int = 15) -> None:
    configure_logging(Settings(_env_file=None))  # as `serve` does, then into /dev/null
    root = logging.getLogger()
    handler = root.handlers[0]
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    logging.getLogger("ollama_gateway.app").setLevel(logging.ERROR)
    access = logging.getLogger("ollama_gateway.access")
    configs = [
        ("everything on, text access log", build(True), "text", True),
        ("everything on, json access log", build(True), "json", True),
        ("middleware on, access log off", build(True), "off", True),
        ("without the middleware", build(False), "text", True),
        ("without middleware and observer", build(False), "text", False),
    ]
    times: dict[str, list[float]] = {label: [] for label, *_ in configs}
    async with AsyncExitStack() as stack:
        for _, app, _, observer in configs:
            await stack.enter_async_context(app.router.lifespan_context(app))
            if not observer:
                app.state.service.metrics = None
            for _ in range(200):  # warm up
                assert await _one(app) == 200
        for _ in range(rounds):  # interleaved, so that load from elsewhere hits all alike
            for label, app, fmt, _ in configs:
                access.disabled = fmt == "off"
                handler.setFormatter(make_formatter(fmt))
                started = time.process_time()  # CPU time: other processes' load stays out
                for _ in range(n):
                    await _one(app)
                times[label].append((time.process_time() - started) / n * 1e6)
    base = min(times[configs[-1][0]])
    print(f"{'build':34s} {'min':>7s} {'median':>7s}  us/request (min vs last row)")
    for label, values in times.items():
        low = min(values)
        print(f"{label:34s} {low:7.1f} {statistics.median(values):7.1f}  ({low - base:+.1f})")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
