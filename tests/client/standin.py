"""A scripted HTTP server on 127.0.0.1 that speaks the gateway's wire format.

The client tests run against the real gateway; this stand-in covers what a healthy gateway never
sends but a client must survive: errors inside a stream, bodies that are not JSON, a connection
cut mid-stream, a plain Ollama server that streams when ``stream`` is absent. Each test queues
the exact replies (:meth:`StandIn.reply`) and reads back the requests it received.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What to answer one request: a status, a body (bytes, a JSON object, or NDJSON lines)."""

    status: int = 200
    body: bytes | dict[str, Any] | list[dict[str, Any]] = b""
    content_type: str = "application/json"
    cut_after: int | None = None  # close the connection after this many NDJSON lines
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    url: str = ""
    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reply(self, method: str, path: str, reply: Reply) -> None:
        self.replies.setdefault((method, path), []).append(reply)


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            queue = state.replies.get((self.command, self.path))
            reply = queue.pop(0) if queue else Reply(404, {"error": "no reply queued"})
            if reply.delay:
                time.sleep(reply.delay)
            if isinstance(reply.body, list):
                self._ndjson(reply)
                return
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _ndjson(self, reply: Reply) -> None:
            lines = [json.dumps(item).encode() + b"\n" for item in reply.body]  # type: ignore[union-attr]
            self.send_response(reply.status)
            self.send_header("content-type", "application/x-ndjson")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for index, line in enumerate(lines):
                if reply.cut_after is not None and index >= reply.cut_after:
                    self.close_connection = True
                    return  # no terminating chunk: the client sees a broken stream
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_DELETE = _handle

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeouts, cut streams) is expected here: stay quiet."""


class Running:
    """``with Running() as standin:`` serves on an ephemeral loopback port in a thread."""

    def __enter__(self) -> StandIn:
        self.state = StandIn()
        self.server = _Server(("127.0.0.1", 0), _handler(self.state))
        self.state.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        return self.state

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
