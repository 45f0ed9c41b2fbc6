"""Ten times more clients than slots + queue: every request answered, memory flat afterwards.

    python bench/overload.py [--requests 10000] [--clients 120] [--parallel 4] [--max-queue 8]

Starts ``bench/standin.py`` with a per-reply delay (a model that takes its time) and
``ollama-gateway serve`` in front of it with a small ``parallel`` and ``max_queue`` and a
requests-per-minute limit per address, then sends ``--requests`` seed calls from ``--clients``
concurrent keep-alive connections (all to 127.0.0.1). It prints the status codes seen (only 200,
429 and 503 are acceptable), and the gateway's resident memory after a warm-up of 1,000 requests,
at the end, and the growth between them (the target is under 10%). Exit status 1 when a reply
was anything else, or a connection failed, or memory grew by 10% or more.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import KEY, ROOT, free_port, wait_port

BODY = b'{"prompt":"x"}'


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def client(port: int, todo: list[int], codes: collections.Counter, failures: list) -> None:
    request = (
        f"POST /api/generate HTTP/1.1\r\nHost: x\r\nX-API-KEY: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    reader = writer = None
    while todo:
        todo.pop()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            codes[status] += 1
            if b"connection: close" in head.lower():
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            failures.append(repr(exc))
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def load(port: int, count: int, clients: int) -> tuple[collections.Counter, list]:
    codes: collections.Counter = collections.Counter()
    failures: list = []
    todo = list(range(count))
    await asyncio.gather(*(client(port, todo, codes, failures) for _ in range(clients)))
    return codes, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=5000, help="requests before measuring")
    parser.add_argument("--clients", type=int, default=120)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.005, help="upstream seconds per reply")
    parser.add_argument("--rpm", type=int, default=6000, help="requests per minute per address")
    args = parser.parse_args()

    upstream = free_port()
    standin = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "standin.py"), str(upstream), "4", str(args.delay)],
        stdout=subprocess.DEVNULL,
    )
    wait_port(upstream, standin)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "API_KEY": KEY}
    command = [sys.executable, "-m", "ollama_gateway", "serve", "--backend", "ollama"]
    command += ["--ollama-url", f"http://127.0.0.1:{upstream}", "--port", str(port)]
    command += ["--parallel", str(args.parallel), "--max-queue", str(args.max_queue)]
    command += ["--rate-limit-rpm", str(args.rpm), "--log-level", "warning"]
    gateway = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    wait_port(port, gateway)
    try:
        started = time.perf_counter()
        warm, warm_failures = asyncio.run(load(port, args.warmup, args.clients))
        before = rss_kib(gateway.pid)
        codes, failures = asyncio.run(load(port, args.requests // 2, args.clients))
        middle = rss_kib(gateway.pid)
        more, more_failures = asyncio.run(
            load(port, args.requests - args.requests // 2, args.clients)
        )
        codes.update(more)
        failures += more_failures
        took = time.perf_counter() - started
        after = rss_kib(gateway.pid)
        alive = gateway.poll() is None
    finally:
        for proc in (gateway, standin):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    codes.update(warm)
    failures += warm_failures
    growth = (after - before) / before * 100
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(
        f"{args.clients} clients, parallel {args.parallel}, max_queue {args.max_queue} "
        f"(slots + queue = {args.parallel + args.max_queue}), upstream delay {args.delay}s, "
        f"rpm {args.rpm}"
    )
    print(
        f"{args.requests + args.warmup} requests in {took:.1f}s: "
        + ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
    )
    print(f"connection failures: {len(failures)} {failures[:3]}")
    print(
        f"gateway RSS: {before} KiB after {args.warmup} requests of warm-up, {middle} KiB "
        f"{args.requests // 2} later, {after} KiB after {args.requests} ({growth:+.1f}%)"
    )
    print(f"gateway alive at the end: {alive}")
    ok = set(codes) <= {200, 429, 503} and not failures and growth < 10 and alive
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
