"""Instructions per request, counted exactly: the gateway and the same-stack stand-in, callgrind.

    python bench/instructions.py [--requests 400] [--clients 1 16] [--src DIR ...]

On a machine shared with other work, CPU time and requests/s swing with the load; the number of
machine instructions a process executes per request does not. This script starts the raw
stand-in (``bench/standin.py``, the upstream) natively, and under ``valgrind --tool=callgrind``
(instrumentation off until the measurement starts): the same-stack stand-in
(``bench/standin_asgi.py``: uvicorn + a raw ASGI app) and one gateway per ``--src`` tree in front
of the raw stand-in. For each case it warms the target up, switches counting on
(``callgrind_control -i on``), sends exactly ``--requests`` requests over ``--clients``
keep-alive connections, dumps the count and divides.

User-space instructions only: the kernel's share (socket reads and writes) is not in the count,
so the figure is what Python, the libraries and the C extensions do per request. Streaming cases
report instructions per chunk. Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import KEY, MODEL, free_port, gateway_env, wait_port

ROOT = Path(__file__).resolve().parents[1]
CHAT = f'{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"stream":false}}'
CASES = {
    # name: (path, body straight to a stand-in, body through the gateway)
    "seed call": (
        "/api/generate",
        f'{{"model":"{MODEL}","prompt":"hi","stream":false}}',
        '{"prompt":"x"}',
    ),
    "/api/chat": ("/api/chat", CHAT, CHAT),
    "stream /api/chat": (
        "/api/chat",
        CHAT.replace("false", "true"),
        CHAT.replace("false", "true"),
    ),
}


async def _client(port: int, request: bytes, count: int) -> int:
    """``count`` requests one after another on one connection; returns the chunks received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks = 0
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"unexpected reply: {head[:200]!r}")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        if length:
            await reader.readexactly(int(length.group(1)))
            chunks += 1
            continue
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            data = await reader.readexactly(size + 2)
            chunks += data.count(b"\n") - 1
    writer.close()
    return chunks


async def drive(port: int, path: str, body: str, key: bool, requests: int, clients: int) -> int:
    data = body.encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"X-API-KEY: {KEY}\r\n" if key else ""
    request = (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    counts = [requests // clients] * clients
    done = await asyncio.gather(*(_client(port, request, n) for n in counts))
    return sum(done)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _dumped(out: Path, before: set[Path]) -> int:
    """The instruction count of the dump callgrind wrote after ``before`` (its last line)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for path in sorted(set(out.parent.glob(out.name + ".*")) - before):
            text = path.read_text(errors="replace")
            found = re.search(r"^totals: *(\d+)\s*\Z", text, re.M)
            if found:
                return int(found.group(1))
        time.sleep(0.5)
    raise SystemExit("callgrind wrote no dump")


class Target:
    def __init__(
        self, label: str, command: Callable[[int], list[str]], env: dict[str, str], work: Path
    ) -> None:
        self.label = label
        self.port = free_port()
        self.out = work / f"{label}.cg"
        valgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.out}",
        ]
        self.proc = subprocess.Popen(
            [*valgrind, *command(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc, timeout=300)

    def count(self, path: str, body: str, key: bool, requests: int, clients: int) -> dict:
        asyncio.run(drive(self.port, path, body, key, max(clients * 5, requests // 10), clients))
        before = set(self.out.parent.glob(self.out.name + ".*"))
        _control(self.proc.pid, "-i", "on")
        chunks = asyncio.run(drive(self.port, path, body, key, requests, clients))
        _control(self.proc.pid, "-d")
        _control(self.proc.pid, "-i", "off")
        total = _dumped(self.out, before)
        done = requests // clients * clients
        return {"per_request": total / done, "per_chunk": total / max(1, chunks)}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", help="a gateway source tree (repeat)")
    parser.add_argument("--requests", type=int, default=400, help="per case and target")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--tokens", type=int, default=32, help="chunks per streamed reply")
    parser.add_argument("--case", action="append", choices=list(CASES), help="default: all")
    parser.add_argument("--serve-args", default="", help="more arguments for `serve`")
    parser.add_argument("--keep", help="keep callgrind's dumps in this folder (callgrind_annotate)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    sources = args.src or [str(ROOT / "src")]
    cases = args.case or list(CASES)
    work = Path(args.keep or tempfile.mkdtemp(prefix="instructions-"))
    work.mkdir(parents=True, exist_ok=True)
    upstream = free_port()
    raw = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "standin.py"), str(upstream), str(args.tokens)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(upstream, raw)
    stack_script = str(ROOT / "bench" / "standin_asgi.py")
    targets = [
        Target(
            "stack",
            lambda port: [sys.executable, stack_script, str(port), str(args.tokens)],
            dict(os.environ),
            work,
        )
    ]
    for i, src in enumerate(sources):
        env = gateway_env(src, upstream, "info", str(work / f"data{i}"))
        # valgrind runs it some 50 times slower: no deadline may cut a request short
        for name in ("REQUEST_TIMEOUT", "FIRST_TOKEN_TIMEOUT", "QUEUE_TIMEOUT"):
            env[f"OLLAMA_GATEWAY_{name}"] = "3600"
        extra = shlex.split(args.serve_args)
        targets.append(
            Target(
                f"gw{i + 1}",
                lambda port, extra=extra: [
                    sys.executable,
                    "-m",
                    "ollama_gateway",
                    "serve",
                    "--port",
                    str(port),
                    *extra,
                ],
                env,
                work,
            )
        )
    results = {}
    try:
        for case in cases:
            path, direct, through = CASES[case]
            for clients in args.clients:
                for target in targets:
                    gateway = target.label != "stack"
                    body = through if gateway else direct
                    results[(case, clients, target.label)] = target.count(
                        path, body, gateway, args.requests, clients
                    )
    finally:
        for target in targets:
            target.stop()
        raw.send_signal(signal.SIGTERM)
        raw.wait(15)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(f"callgrind, user-space instructions; {args.requests} requests per figure after warm-up")
    for i, src in enumerate(sources):
        print(f"gw{i + 1}: {src}")
    labels = [t.label for t in targets]
    print(f"{'':<18}{'clients':>7}" + "".join(f"{label:>14}{'x stack':>8}" for label in labels))
    for case in cases:
        unit = "per chunk" if case.startswith("stream") else "per request"
        key = "per_chunk" if case.startswith("stream") else "per_request"
        for clients in args.clients:
            base = results[(case, clients, "stack")][key]
            line = f"{case:<18}{clients:>7}"
            for label in labels:
                value = results[(case, clients, label)][key]
                line += f"{value:>14,.0f}{value / base:>8.2f}"
            print(line + f"  ({unit})")


if __name__ == "__main__":
    main()
