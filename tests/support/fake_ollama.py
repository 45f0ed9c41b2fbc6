"""A real HTTP server on loopback that plays Ollama, for tests and benchmarks.

It answers as Ollama does (NDJSON streams, single JSON objects, its error bodies) and records
every request it receives. By default every model replies ``Hello, world!`` in four tokens; what
else a model does is set explicitly, never guessed from its name:

- ``FakeOllama(behaviours={name: Behaviour(...)})``: what the models of this instance are, for
  its whole life (a model that thinks, calls tools, takes images, echoes, is not there);
- ``fake.script(name, **fields)``: what one model does in this test (refuse with a status, wait,
  hold until released, trickle for ever, drop the connection, fail mid-stream); cleared by
  :meth:`FakeOllama.reset` (the ``ollama`` fixture does it before and after each test);
- ``fake.queue(method, path, Reply(...))``: the exact next answer to one route, bytes and all
  (what a healthy server never sends: broken framing, bodies that are not JSON, cut streams).

Per-instance settings (for fleets of several fakes): ``loaded`` names the models ``/api/ps``
lists (default: the first of ``models``); ``token_delay`` waits that long before each streamed
token; ``host`` is the loopback address to listen on (``127.0.0.2`` plays a second machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

import orjson
from aiohttp import web

from tests.support import ollama_wire as wire
from tests.support.ollama_wire import (
    BUSY,
    MIDFAIL,
    NO_IMAGES,
    NOT_FOUND,
    THINKER_TOKENS,
    TOKENS,
    Reply,
    Seen,
)

__all__ = ["BUSY", "MIDFAIL", "NOT_FOUND", "NO_IMAGES", "Behaviour", "FakeOllama", "Reply", "Seen"]


@dataclass(frozen=True)
class Behaviour:
    """What one model does with a generation (and, for ``status``/``error``, any request)."""

    status: int = 200  # with ``error``: answer {"error": error} with this status, nothing else
    error: str = ""  # may name ``{model}``
    raw: bytes | None = None  # answer 200 with these bytes as text/html (not JSON)
    delay: float = 0.0  # seconds to wait before answering
    hold: bool = False  # stream the first token, then wait for release_held() (or the client)
    trickle: float | None = None  # stream "x" every this many seconds until the client leaves
    drop_after: int | None = None  # close the connection after this many streamed chunks
    fail_after: int | None = None  # after this many chunks, an in-band {"error": MIDFAIL}
    thinks: bool = False  # <think> reasoning first; split into ``thinking`` as Ollama does
    calls_tools: bool = False  # with ``tools`` in a chat: calls the first ({"city": "Paris"})
    sees_images: bool = False  # takes images (any other model answers 400 to them)
    echoes: bool = False  # replies the last user message (or prompt), eight characters a chunk


# The models of the shared fake (tests/conftest.py): what a model is, not what a test does to it.
CAPABLE_MODELS = {
    "missing": Behaviour(status=404, error=NOT_FOUND),
    "thinker": Behaviour(thinks=True),
    "tooler": Behaviour(calls_tools=True),
    "llava": Behaviour(sees_images=True),
    "echo": Behaviour(echoes=True),
}


@dataclass
class FakeOllama:
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # for this instance's life
    requests: list[Seen] = field(default_factory=list)
    disconnects: int = 0
    streams_open: int = 0
    models: list[str] = field(default_factory=lambda: ["deepseek-r1:1.5b", "llama2:latest"])
    record: bool = True
    held: int = 0
    ended: list[tuple[str, float]] = field(default_factory=list)  # (prompt, perf_counter) per end
    loaded: list[str] | None = None  # what /api/ps lists (None: the first model)
    token_delay: float = 0.0  # seconds before each streamed token
    host: str = "127.0.0.1"
    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size, uploaded
    _scripts: dict[str, Behaviour] = field(default_factory=dict, repr=False)
    _queued: dict[tuple[str, str], list[Reply]] = field(default_factory=dict, repr=False)

    # -- what the test says ------------------------------------------------------------------
    def script(self, model: str, **values: Any) -> Behaviour:
        """From now until :meth:`reset`, ``model`` behaves as ``Behaviour(**values)`` says (on
        top of what ``behaviours`` gives it)."""
        known = {f.name for f in fields(Behaviour)}
        if unknown := set(values) - known:
            raise TypeError(f"no such behaviour: {sorted(unknown)}")
        behaviour = replace(self.behaviours.get(model, Behaviour()), **values)
        self._scripts[model] = behaviour
        return behaviour

    def queue(self, method: str, path: str, reply: Reply) -> None:
        """The next request to ``method path`` gets exactly ``reply`` (replies queue in order)."""
        self._queued.setdefault((method, path), []).append(reply)

    def behaviour(self, model: str) -> Behaviour:
        for name in (model, model.removesuffix(":latest")):
            found = self._scripts.get(name) or self.behaviours.get(name)
            if found is not None:
                return found
        return Behaviour()

    def reset(self) -> None:
        """Forget the test's scripts, queued replies, requests and counters; release holds."""
        self._scripts.clear()
        self._queued.clear()
        self.requests.clear()
        self.ended.clear()
        self.disconnects = 0
        if getattr(self, "_thread", None) is not None and self._thread.is_alive():
            self.release_held()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        self._loop = asyncio.new_event_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._release = asyncio.Event()
            app = web.Application(client_max_size=64 << 20)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            self._loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, sock)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()
            for task in asyncio.all_tasks(self._loop):  # a held or endless reply ends here
                task.cancel()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-ollama")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Ollama did not start")
        return self.url

    def stop(self) -> None:
        if not self._thread.is_alive():
            return  # stopped already (a test took it down)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FakeOllama:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def release_held(self) -> None:
        """Let every reply held by a ``hold`` behaviour finish (thread-safe)."""

        def release() -> None:
            self._release.set()
            self._release = asyncio.Event()

        self._loop.call_soon_threadsafe(release)

    def last(self, path: str) -> Seen:
        return [r for r in self.requests if r.path == path][-1]

    # -- handlers ----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if request.path.startswith("/api/blobs/"):  # raw bytes, recorded without them
            if self.record:
                seen = Seen(request.method, request.path, dict(request.headers), None)
                self.requests.append(seen)
            return self._blob(request, raw)
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        if self.record:
            self.requests.append(
                Seen(request.method, request.path, dict(request.headers), body, time.perf_counter())
            )
        queued = self._queued.get((request.method, request.path))
        if queued:
            return await wire.send_exact(request, queued.pop(0))
        route = (request.method, request.path)
        if route == ("GET", "/api/version"):
            return wire.json_reply({"version": "0.12.0"})
        if route in (("GET", "/"), ("HEAD", "/")):
            return web.Response(text="Ollama is running")
        if route == ("GET", "/api/tags"):
            return wire.json_reply({"models": [wire.model_entry(m) for m in self.models]})
        if route == ("GET", "/api/ps"):
            loaded = self.models[:1] if self.loaded is None else self.loaded
            return wire.json_reply({"models": [wire.model_entry(m) for m in loaded]})
        if not isinstance(body, dict):
            return wire.json_reply({"error": "missing request body"}, 400)
        model = body.get("model", "")
        how = self.behaviour(model)
        if how.error:
            return wire.json_reply({"error": how.error.format(model=model)}, how.status)
        if route[1] in ("/api/show", "/api/delete") and model not in self.models:
            return wire.json_reply({"error": NOT_FOUND.format(model=model)}, 404)
        if how.raw is not None:
            return web.Response(body=how.raw, content_type="text/html")
        if how.delay:
            await asyncio.sleep(how.delay)
        if wire.has_images(body) and not how.sees_images:
            return wire.json_reply({"error": NO_IMAGES}, 400)
        if route == ("POST", "/api/generate"):
            return await self._generate(request, body, how, chat=False)
        if route == ("POST", "/api/chat"):
            return await self._generate(request, body, how, chat=True)
        return await self._manage(request, route, body)

    async def _manage(
        self, request: web.Request, route: tuple[str, str], body: dict
    ) -> web.StreamResponse:
        model = body.get("model", "")
        if route == ("POST", "/api/show"):
            return wire.json_reply(wire.SHOW)
        if route == ("POST", "/api/embed"):
            return wire.json_reply(wire.embeddings(model, body))
        if route == ("POST", "/api/pull"):
            return await self._pull(request, model)
        if route == ("DELETE", "/api/delete"):
            self.models.remove(model)
            return web.Response()
        if route == ("POST", "/api/create"):
            return await self._create(request, body)
        if route == ("POST", "/api/copy"):
            if body.get("source") not in self.models:
                return wire.json_reply({"error": NOT_FOUND.format(model=body.get("source"))}, 404)
            self.models.append(body["destination"])
            return web.Response()
        return wire.json_reply({"error": "not found"}, 404)

    def _pieces(self, body: dict, how: Behaviour) -> list[tuple[str, str]]:
        """(thinking, text) per streamed chunk, as Ollama would send them for this request."""
        if how.echoes:
            text = wire.last_user_text(body)
            return [("", text[i : i + 8]) for i in range(0, len(text), 8)]
        if not how.thinks:
            return [("", t) for t in TOKENS]
        if body.get("think") is None:
            return [("", t) for t in THINKER_TOKENS]
        answer = [("", t) for t in THINKER_TOKENS[5:]]
        if body.get("think") is False:
            return answer
        return [("Let me", ""), (" think.", ""), *answer]

    async def _generate(
        self, request: web.Request, body: dict, how: Behaviour, chat: bool
    ) -> web.StreamResponse:
        model = body.get("model", "")
        pieces = self._pieces(body, how)
        call = bool(chat and how.calls_tools and body.get("tools"))
        if body.get("stream") is not False:
            return await self._stream(request, body, how, chat, pieces, call)
        if how.hold and not await self._hold(request):
            self.disconnects += 1
            return web.Response()
        text = "".join(t for _, t in pieces) if not call else ""
        final = wire.chunk(chat, model, text, True, "".join(t for t, _ in pieces))
        if call:
            final["message"]["tool_calls"] = [wire.tool_call(body["tools"][0])]
        if body.get("logprobs"):
            final["logprobs"] = [wire.logprob(t, body) for _, t in pieces]
        return wire.json_reply(final)

    async def _stream(
        self,
        request: web.Request,
        body: dict,
        how: Behaviour,
        chat: bool,
        pieces: list[tuple[str, str]],
        call: bool,
    ) -> web.StreamResponse:
        model = body.get("model", "")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        self.streams_open += 1
        try:
            if how.hold:
                await response.write(wire.line(wire.chunk(chat, model, pieces[0][1], False)))
                if not await self._hold(request):
                    raise ConnectionResetError("the client went away")
                pieces = pieces[1:]
            while how.trickle is not None:
                await response.write(wire.line(wire.chunk(chat, model, "x", False)))
                await asyncio.sleep(how.trickle)
            if call:
                chunk = wire.chunk(chat, model, "", False)
                chunk["message"]["tool_calls"] = [wire.tool_call(body["tools"][0])]
                pieces = []
                await response.write(wire.line(chunk))
            for sent, (thinking, token) in enumerate(pieces, 1):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                chunk = wire.chunk(chat, model, token, False, thinking)
                if body.get("logprobs"):
                    chunk["logprobs"] = [wire.logprob(token, body)]
                await response.write(wire.line(chunk))
                if sent == how.drop_after:
                    request.transport.close()
                    return response
                if sent == how.fail_after:
                    await response.write(wire.line({"error": MIDFAIL}))
                    await response.write_eof()
                    return response
            await response.write(wire.line(wire.chunk(chat, model, "", True)))
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        finally:
            self.streams_open -= 1
            self.ended.append((str(body.get("prompt", "")), time.perf_counter()))
        return response

    async def _hold(self, request: web.Request) -> bool:
        """Wait for :meth:`release_held`; False when the client hung up first."""
        self.held += 1
        release = self._release
        try:
            while not release.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    return False
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(release.wait(), 0.01)
            return True
        finally:
            self.held -= 1

    async def _pull(self, request: web.Request, model: str) -> web.StreamResponse:
        events = [
            {"status": "pulling manifest"},
            {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 10},
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        response = await wire.send_ndjson(request, events)
        if model not in self.models:
            self.models.append(model)
        return response

    def _blob(self, request: web.Request, raw: bytes) -> web.Response:
        """Ollama's blob routes: HEAD 200/404; POST 201, 200 when held, 400 on a mismatch."""
        digest = request.path.rsplit("/", 1)[-1]
        if request.method == "HEAD":
            return web.Response(status=200 if digest in self.blobs else 404)
        if digest in self.blobs:
            return web.Response(status=200)
        got = "sha256:" + hashlib.sha256(raw).hexdigest()
        if got != digest:
            return wire.json_reply(
                {"error": f'digest mismatch, expected "{digest}", got "{got}"'}, 400
            )
        self.blobs[digest] = len(raw)
        return web.Response(status=201)

    async def _create(self, request: web.Request, body: dict) -> web.StreamResponse:
        files = body.get("files") or {}
        missing = [d for d in files.values() if d not in self.blobs]
        source = body.get("from")
        if missing or (not files and source not in self.models):
            return wire.json_reply({"error": f"blob not found: {missing or source}"}, 400)
        events = [{"status": "parsing GGUF"}] if files else []
        events += [{"status": f"using existing layer {d}"} for d in files.values()]
        if body.get("template") == "{{ broken":
            events.append({"error": "template error: unclosed action", "status": 400})
        else:
            events += [{"status": "writing manifest"}, {"status": "success"}]
            if body["model"] not in self.models:
                self.models.append(body["model"])
        return await wire.send_ndjson(request, events)


if __name__ == "__main__":  # python -m tests.support.fake_ollama PORT [TOKEN_DELAY]
    import sys

    server = FakeOllama(record=False)
    if len(sys.argv) > 2:
        server.token_delay = float(sys.argv[2])
    print(server.start(int(sys.argv[1]) if len(sys.argv) > 1 else 0), flush=True)
    while True:
        time.sleep(3600)
