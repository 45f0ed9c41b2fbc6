"""A fast Ollama stand-in for benchmarks: canned replies from a bare asyncio protocol.

``python bench/standin.py PORT[,PORT...] [TOKENS [DELAY]]`` serves ``/api/generate`` and
``/api/chat`` (on each port) as Ollama would for an instant model: ``stream: false`` gets one JSON
object, otherwise ``TOKENS`` NDJSON chunks (chunked transfer encoding) and a final ``done`` chunk,
all at once (or after ``DELAY`` seconds, to play a model that takes its time).
``GET /api/version``, ``GET /``, ``GET /api/tags`` and ``GET /api/ps`` (one model, loaded) answer
too. It does as little as possible per request so that it is not what a benchmark measures: no
framework, no per-request allocation beyond reading the body.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

STATS = {
    "done_reason": "stop",
    "total_duration": 1000,
    "load_duration": 10,
    "prompt_eval_count": 3,
    "prompt_eval_duration": 100,
    "eval_count": 4,
    "eval_duration": 800,
}


def _reply(status: bytes, body: bytes, kind: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + kind
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def _chunked(lines: list[bytes]) -> bytes:
    out = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    ]
    for line in lines:
        out.append(b"%x\r\n%s\r\n" % (len(line), line))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def canned(model: str, tokens: int) -> dict[tuple[bytes, bool], list[bytes]]:
    """The replies' bodies by (path, streamed): one JSON object, or ``tokens`` + 1 NDJSON lines."""
    created = "2025-01-01T00:00:00Z"
    gen = {"model": model, "created_at": created, "response": "Hello, world!", "done": True}
    chat = {
        "model": model,
        "created_at": created,
        "message": {"role": "assistant", "content": "Hello, world!"},
        "done": True,
    }
    replies = {
        (b"/api/generate", False): [orjson.dumps({**gen, **STATS, "context": [1]})],
        (b"/api/chat", False): [orjson.dumps({**chat, **STATS})],
    }
    for path, final in ((b"/api/generate", gen), (b"/api/chat", chat)):
        lines = []
        for _ in range(tokens):
            piece = dict(final, done=False)
            if "response" in piece:
                piece["response"] = "tok"
            else:
                piece["message"] = {"role": "assistant", "content": "tok"}
            lines.append(orjson.dumps(piece) + b"\n")
        last = dict(final, **STATS)
        last["response" if "response" in last else "message"] = (
            "" if "response" in last else {"role": "assistant", "content": ""}
        )
        lines.append(orjson.dumps(last) + b"\n")
        replies[(path, True)] = lines
    return replies


MODELS = orjson.dumps({"models": [{"name": "deepseek-r1:1.5b"}]})


def build_replies(model: str, tokens: int) -> dict[tuple[bytes, bool], bytes]:
    """The whole HTTP replies: ``Content-Length`` for one object, chunked for a stream."""
    return {
        (path, streamed): _chunked(bodies) if streamed else _reply(b"200 OK", bodies[0])
        for (path, streamed), bodies in canned(model, tokens).items()
    }


class StandIn(asyncio.Protocol):
    replies: dict[tuple[bytes, bool], bytes] = {}
    delay: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            buffer = self.buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = buffer[: end + 2]  # keeps the last header's line ending
            at = head.find(b"ontent-Length:")
            if at < 0:
                at = head.find(b"ontent-length:")
            length = int(head[at + 14 : head.find(b"\r\n", at)]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                return
            body = buffer[end + 4 : end + 4 + length]
            self.buffer = buffer[end + 4 + length :]
            reply = self.answer(head, body)
            if self.delay:
                loop = asyncio.get_running_loop()
                loop.call_later(self.delay, self._write_open, reply)
            else:
                self.transport.write(reply)  # type: ignore[attr-defined]

    def _write_open(self, reply: bytes) -> None:
        if not self.transport.is_closing():  # type: ignore[attr-defined]
            self.transport.write(reply)  # type: ignore[attr-defined]

    def answer(self, head: bytes, body: bytes) -> bytes:
        method, path = head.split(b" ", 2)[:2]
        if method == b"GET":
            if path == b"/api/version":
                return _reply(b"200 OK", b'{"version":"0.12.0"}')
            if path in (b"/api/tags", b"/api/ps"):  # one model, loaded (for fleet discovery)
                return _reply(b"200 OK", MODELS)
            return _reply(b"200 OK", b"Ollama is running", b"text/plain")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _reply(b"400 Bad Request", b'{"error":"invalid JSON"}')
        reply = self.replies.get((path, data.get("stream", True) is not False))
        return reply or _reply(b"404 Not Found", b'{"error":"not found"}')


async def serve(ports: list[int], tokens: int, delay: float = 0.0) -> None:
    """Listen on every port of ``ports`` (one process plays several upstreams)."""
    StandIn.replies = build_replies("deepseek-r1:1.5b", tokens)
    StandIn.delay = delay
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(StandIn, "127.0.0.1", p, backlog=4096) for p in ports]
    for server in servers:
        print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":  # python bench/standin.py PORT[,PORT...] [TOKENS [DELAY]]
    asyncio.run(
        serve(
            [int(p) for p in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0],
            int(sys.argv[2]) if len(sys.argv) > 2 else 32,
            float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
        )
    )
