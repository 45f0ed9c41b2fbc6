"""A real HTTP server on loopback that plays an OpenAI-compatible server (vLLM, llama-server).

Its behaviour is explicit per test: set :attr:`FakeOpenAI.script` (a :class:`Script`) before
the request. It records every request (method, path, headers, JSON body) in ``requests``.
Streams are SSE (``data: {...}`` events, ``data: [DONE]``) with a final usage event when the
request asked for it (``stream_options.include_usage``), as vLLM and llama-server send them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.ollama_wire import Seen  # a request as the fake received it

VLLM_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


@dataclass
class Script:
    """What the fake answers: deltas of content and reasoning, tool calls, failures."""

    content: list[str] = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    reasoning: list[str] = field(default_factory=list)  # sent before the content
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arguments"}
    finish_reason: str = "stop"
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    )
    status: int = 200  # another status answers {"error": {"message": error}} at once
    # (the script applies to generations and embeddings; /v1/models always answers)
    error: str = "the fake failed"
    midstream_error: str | None = None  # sent as an in-band error event after the first delta
    drop_after: int | None = None  # close the connection after this many deltas
    hang: bool = False  # read the request, never answer
    delay: float = 0.0  # seconds before each delta


@dataclass
class FakeOpenAI:
    models: list[str] = field(default_factory=lambda: [VLLM_MODEL])
    script: Script = field(default_factory=Script)
    requests: list[Seen] = field(default_factory=list)
    api_key: str | None = None  # when set, every request must carry it as a bearer token
    dimensions: int = 3

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.SockSite(runner, sock).start())
            ready.set()
            self._loop.run_forever()
            for task in asyncio.all_tasks(self._loop):  # a hanging reply must not hold the stop
                task.cancel()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-openai")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self.url

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def last(self, path: str) -> Seen:
        return [r for r in self.requests if r.path == path][-1]

    # -- handlers ----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        self.requests.append(Seen(request.method, request.path, dict(request.headers), body))
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid api key")
        script = self.script
        if (request.method, request.path) == ("GET", "/v1/models"):
            data = [
                {"id": m, "object": "model", "created": 1735689600, "owned_by": "vllm"}
                for m in self.models
            ]
            return _json({"object": "list", "data": data})
        if (request.method, request.path) == ("GET", "/health"):
            return _json({"status": "ok"})
        if script.hang:  # the script applies to generations and embeddings
            await asyncio.sleep(3600)
        if script.status != 200:
            return _error(script.status, script.error)
        if not isinstance(body, dict):
            return _error(400, "missing body")
        if body.get("model") not in self.models:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        if request.path == "/v1/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            size = body.get("dimensions") or self.dimensions
            data = [
                {"object": "embedding", "index": i, "embedding": [0.5 * i + j for j in range(size)]}
                for i in range(len(inputs))
            ]
            usage = {"prompt_tokens": 2 * len(inputs), "total_tokens": 2 * len(inputs)}
            return _json(
                {"object": "list", "data": data[::-1], "model": body["model"], "usage": usage}
            )
        chat = request.path == "/v1/chat/completions"
        if not chat and request.path != "/v1/completions":
            return _error(404, "no such route")
        if body.get("stream"):
            return await self._stream(request, body, chat, script)
        return _json(self._whole(body, chat, script))

    def _whole(self, body: dict, chat: bool, script: Script) -> dict[str, Any]:
        text = "".join(script.content)
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if script.reasoning:
                message["reasoning_content"] = "".join(script.reasoning)
            if script.tool_calls:
                message["content"] = None
                message["tool_calls"] = [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {
                            "name": c["name"],
                            "arguments": orjson.dumps(c["arguments"]).decode(),
                        },
                    }
                    for i, c in enumerate(script.tool_calls)
                ]
            choice: dict[str, Any] = {"index": 0, "message": message}
        else:
            choice = {"index": 0, "text": text}
        choice["finish_reason"] = "tool_calls" if script.tool_calls else script.finish_reason
        out = {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice]}
        if script.usage is not None:
            out["usage"] = script.usage
        return out

    async def _stream(
        self, request: web.Request, body: dict, chat: bool, script: Script
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(event: dict[str, Any] | str) -> None:
            data = event if isinstance(event, str) else orjson.dumps(event).decode()
            await response.write(f"data: {data}\n\n".encode())

        def event(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = delta
            else:
                choice["text"] = delta.get("content", "")
            return {
                "id": "x",
                "object": "chat.completion.chunk",
                "model": body["model"],
                "choices": [choice],
            }

        deltas = [{"reasoning_content": r} for r in script.reasoning]
        deltas += [{"content": c} for c in script.content]
        for i, call in enumerate(script.tool_calls):
            arguments = orjson.dumps(call["arguments"]).decode()
            half = len(arguments) // 2
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": call["name"], "arguments": arguments[:half]},
                        }
                    ]
                }
            )
            deltas.append(
                {"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]}
            )
        if chat:
            await send(event({"role": "assistant", "content": ""}))
        for n, delta in enumerate(deltas):
            if script.delay:
                await asyncio.sleep(script.delay)
            await send(event(delta))
            if script.midstream_error is not None and n == 0:
                await send({"error": {"message": script.midstream_error, "code": 500}})
                return response
            if script.drop_after is not None and n + 1 >= script.drop_after:
                request.transport.close()
                return response
        finish = "tool_calls" if script.tool_calls else script.finish_reason
        await send(event({}, finish))
        if (body.get("stream_options") or {}).get("include_usage") and script.usage is not None:
            await send(
                {"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": script.usage}
            )
        await send("[DONE]")
        await response.write_eof()
        return response


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": {"message": message, "type": "error", "code": status}}, status)
