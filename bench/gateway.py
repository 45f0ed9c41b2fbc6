"""What the gateway adds in front of Ollama: the same load, straight to a stand-in and through us.

    python bench/gateway.py [--duration 5] [--workers 1] [--tokens 32] [--src DIR ...]

Starts ``bench/standin.py`` (an instant Ollama: canned replies from a bare asyncio protocol) and
``ollama-gateway serve`` in front of it, as separate processes on loopback ports, then measures
in the same run, side by side:

- requests/s and p50/p99 latency at 1 and at 16 concurrent clients, for the seed call
  (``POST /api/generate {"prompt"}``; straight to Ollama that is the same call with
  ``"stream": false``) and for non-streaming ``/api/chat``;
- streaming ``/api/chat`` (``--tokens`` chunks per reply): time to first chunk and chunks/s
  for one client, and chunks/s at 16 clients.

The load generator is ``wrk`` (C, epoll; ``apt-get install wrk``) with a Lua script for the POST
bodies, one thread; time to first chunk comes from a small asyncio client (the same one for both
targets). The gateway runs with an API key (so the key check is measured), ``parallel`` and
``max_queue`` large enough that the scheduler never queues, and its access log on unless
``--log-level warning`` is given; ``--workers N`` is passed to ``serve``. ``--src`` runs the
gateway from another source tree (e.g. an older commit, ``git archive``d); given more than once,
every tree runs as its own gateway in the same run, each measurement taken on each in turn, so
versions compare side by side under the same conditions.

Beside throughput and latency it reports the gateway's CPU time per request (user + system, all
its processes): on a machine shared with other work that figure is steadier than requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789abcdef"
MODEL = "deepseek-r1:1.5b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


def start_standin(tokens: int, kind: str = "raw") -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "raw":
        command = [sys.executable, str(ROOT / "bench" / "standin.py"), str(port), str(tokens)]
    else:  # the tests' fake Ollama: an aiohttp server (4 chunks per stream)
        command = [sys.executable, "-m", "tests.support.fake_ollama", str(port)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # wrk hangs up mid-stream when its time is up
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wait_port(port, proc)
    return proc, port


def start_gateway(
    upstream: int, args: argparse.Namespace, src: str
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(src).resolve()),
        "API_KEY": KEY,
        "OLLAMA_GATEWAY_BACKEND": "ollama",
        "OLLAMA_GATEWAY_OLLAMA_URL": f"http://127.0.0.1:{upstream}",
        "OLLAMA_GATEWAY_PARALLEL": "4096",
        "OLLAMA_GATEWAY_MAX_QUEUE": "100000",
        "OLLAMA_GATEWAY_LOG_LEVEL": args.log_level,
        "OLLAMA_GATEWAY_PORT": str(port),
    }
    command = [sys.executable, "-m", "ollama_gateway", "serve"]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    time.sleep(0.5 * args.workers)  # every worker listening
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the workers)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(child)) for child in children)


def lua(body: str, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = [[{body}]]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read wrk's latency {text!r}")
    number, unit = match.groups()
    return float(number) * (60000.0 if unit == "m" else _UNITS[unit])


def wrk(url: str, script: str, clients: int, duration: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{clients}",
                f"-d{int(duration)}s",
                "--latency",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),
        "bad": float(bad.group(1)) if bad else 0.0,
        "errors": errors.group(1) if errors else "",
    }


async def first_chunks(port: int, path: str, body: bytes, headers: str, duration: float):
    """One client streaming over and over: time to first chunk (ms) and chunks/s per stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    firsts, rates = [], []
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        writer.write(request)
        await reader.readuntil(b"\r\n\r\n")
        first = None
        chunks = 0
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            data = await reader.readexactly(size + 2)
            if first is None:
                first = time.perf_counter()
            chunks += data.count(b"\n") - 1
        ended = time.perf_counter()
        firsts.append((first - started) * 1000)
        rates.append(chunks / (ended - started))
    writer.close()
    return statistics.median(firsts), statistics.median(rates)


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    standin, upstream = start_standin(args.tokens, args.standin)
    if args.standin != "raw":
        args.tokens = 4
    gateways = [start_gateway(upstream, args, src) for src in args.src]
    key = {"Content-Type": "application/json", "X-API-KEY": KEY}
    plain = {"Content-Type": "application/json"}
    chat = f'{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"stream":false}}'
    stream = chat.replace('"stream":false', '"stream":true')
    cases = [
        (
            "seed call",
            (
                upstream,
                "/api/generate",
                f'{{"model":"{MODEL}","prompt":"hi","stream":false}}',
                plain,
            ),
            (None, "/api/generate", '{"prompt":"x"}', key),
        ),
        ("/api/chat", (upstream, "/api/chat", chat, plain), (None, "/api/chat", chat, key)),
    ]
    # every target in turn: straight to the stand-in, then each gateway (pid None: no CPU count)
    targets = [(upstream, None, plain)] + [(port, proc.pid, key) for proc, port in gateways]
    rows = []
    try:
        for name, direct, through in cases:
            for clients in (1, 16):
                results = []
                for target_port, pid, _ in targets:
                    _, path, body, headers = direct if pid is None else through
                    url = f"http://127.0.0.1:{target_port}{path}"
                    before = cpu_seconds(pid) if pid else 0.0
                    result = wrk(url, lua(body, headers), clients, args.duration)
                    used = cpu_seconds(pid) - before if pid else 0.0
                    result["cpu_us"] = used / (result["rps"] * args.duration) * 1e6
                    results.append(result)
                rows.append((name, clients, results))
        stream_rows = []
        for clients in (1, 16):
            results = []
            for target_port, _, headers in targets:
                url = f"http://127.0.0.1:{target_port}/api/chat"
                results.append(wrk(url, lua(stream, headers), clients, args.duration))
            stream_rows.append((clients, results))
        firsts = []
        for target_port, pid, _ in targets:
            header = f"X-API-KEY: {KEY}\r\n" if pid else ""
            firsts.append(
                asyncio.run(
                    first_chunks(target_port, "/api/chat", stream.encode(), header, args.duration)
                )
            )
    finally:
        for proc in [proc for proc, _ in gateways] + [standin]:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    report(args, rows, stream_rows, firsts)


def report(args, rows, stream_rows, firsts) -> None:
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(
        f"wrk -t1 -d{args.duration}s; gateway: {args.workers} worker(s), log level "
        f"{args.log_level}; stand-in: {args.standin}, {args.tokens} chunks per stream; "
        f"{os.cpu_count()} CPUs"
    )
    names = [f"gw{i + 1}" for i in range(len(args.src))]
    for label, src in zip(names, args.src, strict=True):
        print(f"{label}: {src}")
    head = f"{'':<14}{'clients':>7} | {'direct req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | "
    head += f"{'':<4}{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5} {'+p50 ms':>7}"
    head += f" | {'CPU/req':>8}"
    print(head)
    print("-" * len(head))
    for name, clients, (direct, *throughs) in rows:
        lead = (
            f"{name:<14}{clients:>7} | {direct['rps']:>12.0f} {direct['p50']:>7.3f} "
            f"{direct['p99']:>7.3f} | "
        )
        for label, through in zip(names, throughs, strict=True):
            print(
                f"{lead}{label:<4}{through['rps']:>7.0f} {through['p50']:>7.3f} "
                f"{through['p99']:>7.3f} | {through['rps'] / direct['rps']:>5.2f} "
                f"{through['p50'] - direct['p50']:>7.3f} | {through['cpu_us']:>6.0f}us"
            )
            lead = " " * (len(lead) - 2) + "| "
        for label, result in zip(["direct", *names], [direct, *throughs], strict=True):
            if result["bad"] or result["errors"]:
                print(f"  ! {label}: {result['bad']:.0f} non-2xx, socket errors {result['errors']}")
    per = args.tokens + 1
    print()
    print(
        f"{'streaming /api/chat':<22}{'direct':>12}"
        + "".join(f"{n:>12}{'ratio':>7}" for n in names)
    )
    (direct_first, direct_rate), *gateway_firsts = firsts
    line = f"{'first chunk, 1 client':<22}{direct_first:>10.3f}ms"
    print(line + "".join(f"{first:>10.3f}ms{'':>7}" for first, _ in gateway_firsts))
    line = f"{'chunks/s in 1 stream':<22}{direct_rate:>12.0f}"
    print(line + "".join(f"{rate:>12.0f}{rate / direct_rate:>7.2f}" for _, rate in gateway_firsts))
    for clients, (direct, *throughs) in stream_rows:
        label = f"chunks/s, {clients} client{'s' if clients > 1 else ''}"
        d = direct["rps"] * per
        cells = "".join(f"{t['rps'] * per:>12.0f}{t['rps'] * per / d:>7.2f}" for t in throughs)
        print(f"{label:<22}{d:>12.0f}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument("--tokens", type=int, default=32, help="chunks per streamed reply")
    parser.add_argument("--log-level", default="info", choices=["info", "warning"])
    parser.add_argument(
        "--src",
        action="append",
        help="the gateway's source tree (default: this checkout's src); repeat to compare",
    )
    parser.add_argument(
        "--standin",
        default="raw",
        choices=["raw", "aiohttp"],
        help="raw: bench/standin.py (fastest); aiohttp: the tests' fake Ollama",
    )
    args = parser.parse_args()
    args.src = args.src or [str(ROOT / "src")]
    run(args)


if __name__ == "__main__":
    main()
