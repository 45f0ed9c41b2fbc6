"""The same canned Ollama as ``bench/standin.py``, on the gateway's own server stack.

``python bench/standin_asgi.py PORT [TOKENS]`` serves a raw ASGI app (no framework) with uvicorn,
configured as ``ollama-gateway serve`` configures it (same event loop and HTTP parser choice, no
access log, no ``Server`` header). What it costs per request is what the server stack itself
costs; the gateway cannot do less than this, so ``bench/gateway.py`` reports its figures as a
ratio of this stand-in's too.

A streamed reply is sent one ASGI message per line, as the gateway sends them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin import MODELS, canned

REPLIES: dict[tuple[str, bool], list[bytes]] = {}
JSON = [(b"content-type", b"application/json")]
NDJSON = [(b"content-type", b"application/x-ndjson")]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET":
        if scope["path"] in ("/api/tags", "/api/ps"):  # one model, loaded (fleet discovery)
            await _whole(send, 200, MODELS)
        else:
            await _whole(send, 200, b'{"version":"0.12.0"}')
        return
    try:
        streamed = orjson.loads(body).get("stream", True) is not False
    except orjson.JSONDecodeError:
        await _whole(send, 400, b'{"error":"invalid JSON"}')
        return
    pieces = REPLIES.get((scope["path"], streamed))
    if pieces is None:
        await _whole(send, 404, b'{"error":"not found"}')
    elif not streamed:
        await _whole(send, 200, pieces[0])
    else:
        await send({"type": "http.response.start", "status": 200, "headers": NDJSON})
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _whole(send, status: int, body: bytes) -> None:
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_app():
    """The app for a server given a factory (``bench/servers.py``); ``STANDIN_TOKENS`` chunks."""
    _fill(int(os.environ.get("STANDIN_TOKENS", "32")))
    return app


def _fill(tokens: int) -> None:
    for (path, streamed), pieces in canned("deepseek-r1:1.5b", tokens).items():
        REPLIES[(path.decode(), streamed)] = pieces


def main() -> None:
    import uvicorn

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    _fill(int(sys.argv[2]) if len(sys.argv) > 2 else 32)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False
    )


if __name__ == "__main__":
    main()
