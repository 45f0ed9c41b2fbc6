"""The gateway's own work per request, in-process: no sockets, a backend that answers at once.

    python bench/app_cost.py [--src DIR ...] [--requests 2000]

For each source tree (default: this checkout's), a child process builds the app with an instant
backend, keyed (so the key check runs), access log on (to /dev/null), and drives the ASGI app
directly for the seed call, non-streaming ``/api/chat``, ``/v1/chat/completions`` and
``GET /api/tags``. It reports per request:

- Python bytecodes executed (``sys.settrace`` opcode events over 20 requests): exact and
  repeatable, so untouched by other load on the machine; it leaves out C work (pydantic-core,
  orjson, the regex engine), which is about the same in the versions compared here;
- CPU time (``time.process_time``, the lowest of 15 rounds): real, but inflated by other load.

Several ``--src`` trees are measured in the same run and the first is the baseline of the ratios.
``--layers`` adds where the bytecodes of each request run: FastAPI, Starlette, the gateway's own
modules, asyncio, logging, the rest of the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from asgi_drive import drive, http_scope, instant_backend

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789abcdef"
CASES = {
    "seed call": ("POST", "/api/generate", b'{"prompt": "Why is the sky blue?"}'),
    "/api/chat": (
        "POST",
        "/api/chat",
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": false}',
    ),
    "/v1/chat": (
        "POST",
        "/v1/chat/completions",
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
    ),
    "GET /api/tags": ("GET", "/api/tags", b""),
}


async def _one(app, case: str) -> int:
    method, path, body = CASES[case]
    return await drive(app, http_scope(method, path, body, [(b"x-api-key", KEY.encode())]), body)


async def _child(requests: int) -> dict:
    from contextlib import AsyncExitStack

    from ollama_gateway.app import create_app
    from ollama_gateway.observability.logs import configure_logging
    from ollama_gateway.settings import Settings

    settings = Settings(_env_file=None, api_keys=KEY, parallel=4096, max_queue=100000)
    configure_logging(settings)
    for handler in logging.getLogger().handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    app = create_app(settings, backend=instant_backend())
    ops = 0
    layers: dict[str, int] = {}

    def trace(frame, event, arg):
        nonlocal ops
        frame.f_trace_opcodes = True
        if event == "opcode":
            ops += 1
            layer = _layer(frame.f_code.co_filename)
            layers[layer] = layers.get(layer, 0) + 1
        return trace

    out: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        for case in CASES:
            for _ in range(300):
                assert await _one(app, case) == 200, case
            ops = 0
            layers.clear()
            sys.settrace(trace)
            for _ in range(20):
                await _one(app, case)
            sys.settrace(None)
            rounds = []
            for _ in range(15):
                started = time.process_time()
                for _ in range(requests // 15):
                    await _one(app, case)
                rounds.append((time.process_time() - started) / (requests // 15) * 1e6)
            out[case] = {"ops": ops / 20, "cpu_us": min(rounds)}
            out[case].update({f"layer:{k}": v / 20 for k, v in layers.items()})
    return out


LAYERS = ("fastapi", "starlette", "ollama_gateway", "asyncio", "logging")


def _layer(filename: str) -> str:
    parts = Path(filename).parts
    for name in LAYERS:
        if name in parts:
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", help="a source tree (repeat to compare)")
    parser.add_argument("--requests", type=int, default=2000, help="per case, for CPU time")
    parser.add_argument("--layers", action="store_true", help="bytecodes per layer, too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.requests))))
        return
    sources = args.src or [str(ROOT / "src")]
    results = []
    for src in sources:
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        command = [sys.executable, __file__, "--child", "--requests", str(args.requests)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("$ " + " ".join([sys.executable, *sys.argv]))
    for i, src in enumerate(sources):
        print(f"src{i + 1}: {src}")
    names = [f"src{i + 1}" for i in range(len(sources))]
    head = f"{'':<14}" + "".join(f"{n + ' ops':>11}{'ratio':>7}" for n in names)
    head += "".join(f"{n + ' CPU':>11}{'ratio':>7}" for n in names)
    print(head)
    for case in CASES:
        base = results[0][case]
        line = f"{case:<14}"
        for result in results:
            line += f"{result[case]['ops']:>11.0f}{result[case]['ops'] / base['ops']:>7.2f}"
        for result in results:
            cpu = result[case]["cpu_us"]
            line += f"{cpu:>9.1f}us{cpu / base['cpu_us']:>7.2f}"
        print(line)
    if args.layers:
        print()
        print(f"{'bytecodes by layer':<20}" + "".join(f"{n:>15}" for n in (*LAYERS, "other")))
        for case in CASES:
            for name, result in zip(names, results, strict=True):
                row = f"{case + ', ' + name:<20}"
                row += "".join(f"{result[case].get('layer:' + n, 0):>15.0f}" for n in LAYERS)
                print(row + f"{result[case].get('layer:other', 0):>15.0f}")


if __name__ == "__main__":
    main()
