"""A real HTTP server on loopback that plays Ollama, for tests and benchmarks.

It answers as Ollama does (NDJSON streams, single JSON objects, its error bodies) and records
every request it receives. Behaviour is chosen by the model name a request asks for:

- ``missing``: 404 ``model "missing" not found, try pulling it first``
- ``busy``: 503 with Ollama's queue-full message
- ``slow``: waits ``delay`` seconds before answering
- ``trickle``: streams a token every ``delay`` seconds, for ever (until the client leaves)
- ``hold``: streams its first token, then holds the reply until :meth:`FakeOllama.release_held`
  (streaming or not); ``held`` counts the replies waiting there
- ``drop``: streams two chunks, then closes the connection mid-stream
- ``garbage``: answers 200 with a body that is not JSON
- ``thinker``: replies ``<think>...</think>`` reasoning before the answer: raw, as models write
  it, when the request has no ``think``; split into ``thinking`` fields as Ollama does with
  ``think: true``; without the reasoning with ``think: false``
- ``tooler``: with ``tools`` in a chat request, calls the first tool (``{"city": "Paris"}``)
- ``midfail``: streams two chunks, then an in-band ``{"error": ...}`` line, as Ollama does when
  generation fails after it began
- ``llava``: takes images; any other model answers 400 to a request with images
- ``echo``: replies with the request's last user message (or prompt), eight characters a chunk
- anything else: the reply ``Hello, world!`` in four tokens

Per-instance behaviour (for fleets of several fakes): ``loaded`` names the models ``/api/ps``
lists (default: the first of ``models``); ``token_delay`` waits that long before each streamed
token; ``host`` is the loopback address to listen on (``127.0.0.2`` plays a second machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

TOKENS = ["Hello", ",", " world", "!"]
THINKER_TOKENS = ["<think>", "Let me", " think.", "</think>", "\n\n", "Answer", "."]
MIDFAIL = "model runner has unexpectedly stopped"
NO_IMAGES = "this model is missing data required for image input"
BUSY = "server busy, please try again.  maximum pending requests exceeded"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = 0.0  # time.perf_counter() on arrival


@dataclass
class FakeOllama:
    delay: float = 0.5
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

    def release_held(self) -> None:
        """Let every reply held by the ``hold`` model finish (thread-safe)."""

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
        body = orjson.loads(raw) if raw else None
        if self.record:
            self.requests.append(
                Seen(request.method, request.path, dict(request.headers), body, time.perf_counter())
            )
        route = (request.method, request.path)
        if route == ("GET", "/api/version"):
            return _json({"version": "0.12.0"})
        if route in (("GET", "/"), ("HEAD", "/")):
            return web.Response(text="Ollama is running")
        if route == ("GET", "/api/tags"):
            return _json({"models": [self._model_entry(m) for m in self.models]})
        if route == ("GET", "/api/ps"):
            loaded = self.models[:1] if self.loaded is None else self.loaded
            return _json({"models": [self._model_entry(m) for m in loaded]})
        if not isinstance(body, dict):
            return _json({"error": "missing request body"}, 400)
        model = body.get("model", "")
        if model == "missing" or (
            route[1] in ("/api/show", "/api/delete") and model not in self.models
        ):
            return _json({"error": f'model "{model}" not found, try pulling it first'}, 404)
        if model == "busy":
            return _json({"error": BUSY}, 503)
        if model == "garbage":
            return web.Response(body=b"<html>not json</html>", content_type="text/html")
        if model == "slow":
            await asyncio.sleep(self.delay)
        if _has_images(body) and model != "llava":
            return _json({"error": NO_IMAGES}, 400)
        if route == ("POST", "/api/generate"):
            return await self._generate(request, body, chat=False)
        if route == ("POST", "/api/chat"):
            return await self._generate(request, body, chat=True)
        if route == ("POST", "/api/show"):
            return _json(
                {
                    "modelfile": "FROM x",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": {"family": "qwen2"},
                    "model_info": {"general.architecture": "qwen2"},
                    "capabilities": ["completion"],
                    "modified_at": "2025-01-01T00:00:00Z",
                }
            )
        if route == ("POST", "/api/embed"):
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs
            size = body.get("dimensions") or 3
            return _json(
                {
                    "model": model,
                    "embeddings": [
                        [0.1 * (i + 1) + j for j in range(size)] for i in range(len(inputs))
                    ],
                    "total_duration": 5000,
                    "load_duration": 100,
                    "prompt_eval_count": len(inputs),
                }
            )
        if route == ("POST", "/api/pull"):
            return await self._pull(request, model)
        if route == ("DELETE", "/api/delete"):
            self.models.remove(model)
            return web.Response()
        if route == ("POST", "/api/create"):
            return await self._create(request, body)
        if route == ("POST", "/api/copy"):
            if body.get("source") not in self.models:
                return _json(
                    {"error": f'model "{body.get("source")}" not found, try pulling it first'}, 404
                )
            self.models.append(body["destination"])
            return web.Response()
        return _json({"error": "not found"}, 404)

    def _model_entry(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "size": 1117322768,
            "digest": "a" * 64,
            "modified_at": "2025-01-01T00:00:00Z",
            "details": {"family": "qwen2"},
        }

    def _tokens(self, model: str) -> list[str]:
        return THINKER_TOKENS if model == "thinker" else TOKENS

    def _pieces(self, body: dict) -> list[tuple[str, str]]:
        """(thinking, text) per streamed chunk, as Ollama would send them for this request."""
        model = body.get("model", "")
        if model == "echo":
            text = _last_user_text(body)
            return [("", text[i : i + 8]) for i in range(0, len(text), 8)]
        if model != "thinker" or body.get("think") is None:
            return [("", t) for t in self._tokens(model)]
        answer = [("", t) for t in THINKER_TOKENS[5:]]
        if body.get("think") is False:
            return answer
        return [("Let me", ""), (" think.", ""), *answer]

    def _chunk(
        self, chat: bool, model: str, text: str, done: bool, thinking: str = ""
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"model": model, "created_at": "2025-01-01T00:00:00.000000Z"}
        if chat:
            out["message"] = {"role": "assistant", "content": text}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = text
            if thinking:
                out["thinking"] = thinking
        out["done"] = done
        if done:
            out.update(
                done_reason="stop",
                total_duration=1000,
                load_duration=10,
                prompt_eval_count=3,
                prompt_eval_duration=100,
                eval_count=4,
                eval_duration=800,
            )
            if not chat:
                out["context"] = [1, 2, 3]
        return out

    async def _generate(self, request: web.Request, body: dict, chat: bool) -> web.StreamResponse:
        model = body.get("model", "")
        pieces = self._pieces(body)
        call = chat and model == "tooler" and body.get("tools")
        if body.get("stream") is False:
            if model == "hold" and not await self._hold(request):
                self.disconnects += 1
                return web.Response()
            final = self._chunk(
                chat,
                model,
                "".join(t for _, t in pieces) if not call else "",
                True,
                "".join(t for t, _ in pieces),
            )
            if call:
                final["message"]["tool_calls"] = [_tool_call(body["tools"][0])]
            if body.get("logprobs"):
                final["logprobs"] = [_logprob(t, body) for _, t in pieces]
            return _json(final)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        self.streams_open += 1
        try:
            if model == "hold":
                await response.write(
                    orjson.dumps(self._chunk(chat, model, pieces[0][1], False)) + b"\n"
                )
                if not await self._hold(request):
                    raise ConnectionResetError("the client went away")
                pieces = pieces[1:]
            if model == "trickle":
                while True:
                    await response.write(orjson.dumps(self._chunk(chat, model, "x", False)) + b"\n")
                    await asyncio.sleep(self.delay)
            if call:
                chunk = self._chunk(chat, model, "", False)
                chunk["message"]["tool_calls"] = [_tool_call(body["tools"][0])]
                pieces = []
                await response.write(orjson.dumps(chunk) + b"\n")
            for i, (thinking, token) in enumerate(pieces):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                chunk = self._chunk(chat, model, token, False, thinking)
                if body.get("logprobs"):
                    chunk["logprobs"] = [_logprob(token, body)]
                await response.write(orjson.dumps(chunk) + b"\n")
                if model == "drop" and i == 1:
                    request.transport.close()
                    return response
                if model == "midfail" and i == 1:
                    await response.write(orjson.dumps({"error": MIDFAIL}) + b"\n")
                    await response.write_eof()
                    return response
            await response.write(orjson.dumps(self._chunk(chat, model, "", True)) + b"\n")
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
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        events = [
            {"status": "pulling manifest"},
            {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 10},
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        for event in events:
            await response.write(orjson.dumps(event) + b"\n")
        if model not in self.models:
            self.models.append(model)
        await response.write_eof()
        return response

    def _blob(self, request: web.Request, raw: bytes) -> web.Response:
        """Ollama's blob routes: HEAD 200/404; POST 201, 200 when held, 400 on a mismatch."""
        import hashlib

        digest = request.path.rsplit("/", 1)[-1]
        if request.method == "HEAD":
            return web.Response(status=200 if digest in self.blobs else 404)
        if digest in self.blobs:
            return web.Response(status=200)
        got = "sha256:" + hashlib.sha256(raw).hexdigest()
        if got != digest:
            return _json({"error": f'digest mismatch, expected "{digest}", got "{got}"'}, 400)
        self.blobs[digest] = len(raw)
        return web.Response(status=201)

    async def _create(self, request: web.Request, body: dict) -> web.StreamResponse:
        files = body.get("files") or {}
        missing = [d for d in files.values() if d not in self.blobs]
        source = body.get("from")
        if missing or (not files and source not in self.models):
            return _json({"error": f"blob not found: {missing or source}"}, 400)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        events = [{"status": "parsing GGUF"}] if files else []
        events += [{"status": f"using existing layer {d}"} for d in files.values()]
        if body.get("template") == "{{ broken":
            events.append({"error": "template error: unclosed action", "status": 400})
        events += [{"status": "writing manifest"}, {"status": "success"}]
        for event in events:
            await response.write(orjson.dumps(event) + b"\n")
            if "error" in event:
                break
        else:
            if body["model"] not in self.models:
                self.models.append(body["model"])
        await response.write_eof()
        return response


def _logprob(token: str, body: dict) -> dict[str, Any]:
    """Ollama's logprob entry for a scripted token: -0.5, and top_logprobs alternatives."""
    entry: dict[str, Any] = {"token": token, "logprob": -0.5, "bytes": list(token.encode())}
    top = body.get("top_logprobs") or 0
    if top:
        entry["top_logprobs"] = [
            {"token": token, "logprob": -0.5, "bytes": list(token.encode())},
            *({"token": f"alt{i}", "logprob": -1.0 - i} for i in range(top - 1)),
        ]
    return entry


def _last_user_text(body: dict) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else str(body.get("prompt") or "")


def _has_images(body: dict) -> bool:
    if body.get("images"):
        return True
    messages = body.get("messages") or []
    return any(isinstance(m, dict) and m.get("images") for m in messages)


def _tool_call(tool: dict) -> dict[str, Any]:
    name = (tool.get("function") or {}).get("name", "")
    return {"function": {"name": name, "arguments": {"city": "Paris"}}}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


if __name__ == "__main__":  # python -m tests.support.fake_ollama PORT [TOKEN_DELAY]
    import sys
    import time

    server = FakeOllama(record=False)
    if len(sys.argv) > 2:
        server.token_delay = float(sys.argv[2])
    print(server.start(int(sys.argv[1]) if len(sys.argv) > 1 else 0), flush=True)
    while True:
        time.sleep(3600)
