"""Driving an ASGI app in-process, for the benchmarks that count the gateway's own work per
request (``app_cost.py``, ``observability_cost.py``, ``accounts_cost.py``): no sockets, one
request at a time, in front of an instant backend."""

from __future__ import annotations

import asyncio
from typing import Any


def http_scope(
    method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it; a JSON content type and length when there is a body."""
    sent = [(b"host", b"127.0.0.1"), *(headers or [])]
    if body:
        sent += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": sent,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def drive(app: Any, scope: dict[str, Any], body: bytes) -> int:
    """Send ``body`` as one message, the client then stays; the reply's status."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


def instant_backend():
    """A backend that answers every generation at once with one final chunk (the gateway's own
    work is what gets measured); it lists one model and is always ready."""
    from ollama_gateway.core.types import Chunk, ModelInfo, Stats

    class InstantBackend:
        name = "ollama"
        splits_thinking = True

        async def start(self) -> None: ...

        async def close(self) -> None: ...

        async def generate(self, request):
            yield Chunk(
                text="Hello, world!",
                done=True,
                done_reason="stop",
                stats=Stats(prompt_eval_count=9, eval_count=4, eval_duration=40_000_000),
                model=request.model,
            )

        chat = generate

        async def check_ready(self):
            return True, ""

        async def list_models(self):
            return [ModelInfo(name="llama2:latest", size=1, digest="abc", details={})]

    return InstantBackend()
