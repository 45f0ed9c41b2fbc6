"""An upstream Ollama's streamed lines reach an Ollama client as the upstream wrote them.

The upstream here is a bare asyncio HTTP server written for these tests, so that what it sends
(the bytes of every line and how they are framed in HTTP chunks) is known exactly; the client
reads the gateway's reply from a raw socket and keeps its chunk framing. The gateway runs for
real (uvicorn on loopback) in front of it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import orjson
import pytest

from ollama_gateway.app import create_app
from tests.support.live import serve

MODEL = "llama2:latest"
LINES = 10_000


def _lines(count: int, chat: bool = True) -> list[bytes]:
    """``count`` token lines and a final one, each unlike the others (text with quotes,
    escapes, non-ASCII, a field the gateway does not know, timestamps as Ollama writes them)."""
    words = ["Hello", ' "quoted"', " \\back", " naïve", " 雨", " 🙂", "\n", " \u2028", " x"]
    out = []
    for i in range(count):
        stamp = f"2026-12-02T06:{i // 600 % 60:02d}:00.{i:09d}Z"
        piece: dict = {"model": MODEL, "created_at": stamp}
        text = words[i % len(words)] + str(i)
        if chat:
            piece["message"] = {"role": "assistant", "content": text}
        else:
            piece["response"] = text
        piece["done"] = False
        if i % 7 == 0:
            piece["x_upstream_field"] = i
        out.append(orjson.dumps(piece) + b"\n")
    final = {"model": MODEL, "created_at": "2026-12-02T07:00:00.000000001Z", "done": True}
    final.update(message={"role": "assistant", "content": ""} if chat else {"response": ""})
    final.update(done_reason="stop", total_duration=5, prompt_eval_count=3, eval_count=count)
    return [*out, orjson.dumps(final) + b"\n"]


class Upstream:
    """An Ollama stand-in that streams ``lines``, one HTTP chunk each.

    ``lockstep``: each chunk is written only after the test's client got the one before it (so
    nothing can be joined on the way); otherwise all are written at once (a reader that falls
    behind finds many together).
    """

    def __init__(self, lines: list[bytes], lockstep: bool) -> None:
        self.lines = lines
        self.lockstep = lockstep
        self.received: asyncio.Queue[None] = asyncio.Queue()
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                if head.startswith(b"GET"):
                    reply = b'{"version":"0.12.0","models":[]}'
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
                    )
                    continue
                self.requests.append(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for line in self.lines:
                    writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                    if self.lockstep:
                        await writer.drain()
                        await self.received.get()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _chunks(port: int, path: str, body: dict, upstream: Upstream) -> list[bytes]:
    """The HTTP chunks of the gateway's reply, as framed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = orjson.dumps(body)
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(data), data)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"transfer-encoding: chunked" in head.lower()
    chunks = []
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            break
        chunks.append((await reader.readexactly(size + 2))[:-2])
        upstream.received.put_nowait(None)
    writer.close()
    return chunks


@pytest.fixture
def upstream_gateway(make_settings) -> Iterator:
    """``run(lines, lockstep, path, body)`` -> (chunks received, the upstream)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state: dict = {}

    async def start() -> int:
        async def handle(reader, writer):
            await state["upstream"].handle(reader, writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        state["server"] = server
        return server.sockets[0].getsockname()[1]

    state["upstream"] = Upstream([], False)
    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    settings = make_settings(
        backend="ollama", ollama_url=f"http://127.0.0.1:{port}", first_token_timeout=30
    )
    with serve(create_app(settings)) as url:
        gateway_port = int(url.rsplit(":", 1)[1])

        def run(lines, lockstep, path="/api/chat", body=None):
            async def go():
                upstream = state["upstream"] = Upstream(lines, lockstep)
                request = body or {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                return await _chunks(gateway_port, path, request, upstream), upstream

            return asyncio.run_coroutine_threadsafe(go(), loop).result(120)

        yield run
    loop.call_soon_threadsafe(state["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_ten_thousand_chunks_arrive_as_the_upstream_framed_them(upstream_gateway):
    lines = _lines(LINES)
    chunks, upstream = upstream_gateway(lines, lockstep=True)
    assert len(upstream.requests) == 1
    assert len(chunks) == LINES + 1
    assert chunks == lines  # every byte, every chunk boundary


def test_generate_lines_pass_through_too(upstream_gateway):
    lines = _lines(500, chat=False)
    body = {"model": MODEL, "prompt": "hi", "stream": True}
    chunks, _ = upstream_gateway(lines, lockstep=True, path="/api/generate", body=body)
    assert chunks == lines


def test_lines_that_arrive_together_leave_together_and_whole(upstream_gateway):
    lines = _lines(LINES)
    chunks, _ = upstream_gateway(lines, lockstep=False)
    assert b"".join(chunks) == b"".join(lines)
    assert all(chunk.endswith(b"\n") for chunk in chunks)  # never a line cut in two
    assert len(chunks) <= len(lines)


def test_reasoning_split_by_the_gateway_is_rendered_not_forwarded(upstream_gateway):
    """Tags in the upstream's text, with ``think`` asked: the gateway splits them out, so the
    lines it writes are its own (the upstream's would show the tags)."""
    said = ("<think>mull", "ing</think>", "The answer.")
    lines = [
        orjson.dumps({"model": MODEL, "message": {"role": "assistant", "content": c}}) + b"\n"
        for c in said
    ]
    lines += _lines(0)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "think": True}
    chunks, _ = upstream_gateway(lines, lockstep=True, body=body)
    objects = [orjson.loads(line) for chunk in chunks for line in chunk.splitlines()]
    thinking = "".join(o["message"].get("thinking", "") for o in objects)
    content = "".join(o["message"]["content"] for o in objects)
    assert (thinking, content) == ("mulling", "The answer.")


def test_openai_stream_keeps_one_event_per_upstream_line(upstream_gateway):
    lines = _lines(300)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    chunks, _ = upstream_gateway(lines, lockstep=False, path="/v1/chat/completions", body=body)
    events = [
        orjson.loads(line[6:])
        for line in b"".join(chunks).split(b"\n\n")
        if line.startswith(b"data: {")
    ]
    contents = [e["choices"][0]["delta"].get("content") for e in events]
    expected = [orjson.loads(line)["message"]["content"] for line in lines[:-1]]
    assert [c for c in contents if c] == expected
