"""What the gateway adds in front of Ollama: the same load, straight to a stand-in and through us.

    python bench/gateway.py [--duration 5] [--workers 1] [--tokens 32] [--src DIR ...]

Starts ``bench/standin.py`` (an instant Ollama: canned replies from a bare asyncio protocol),
``bench/standin_asgi.py`` (the same replies from a raw ASGI app on the gateway's own server stack,
uvicorn) and ``ollama-gateway serve`` in front of the raw one, as separate processes on loopback
ports, then measures in the same run, side by side, straight to each stand-in and through the
gateway:

- requests/s, p50/p99 latency and CPU time per request at 1, 16 and 64 concurrent clients, for
  the seed call (``POST /api/generate {"prompt"}``; straight to Ollama that is the same call with
  ``"stream": false``) and for non-streaming ``/api/chat``;
- streaming ``/api/chat`` (``--tokens`` chunks per reply): time to first chunk and chunks/s
  for one client, chunks/s at 1 and 16 clients (wrk) and CPU time per chunk.

The ratios are against the same-stack stand-in (``stack``): what uvicorn itself can do on this
machine with an app that does nothing. The gateway does that work and its own on top.

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
    if kind in ("raw", "asgi"):
        script = "standin.py" if kind == "raw" else "standin_asgi.py"
        command = [sys.executable, str(ROOT / "bench" / script), str(port), str(tokens)]
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


def gateway_env(src: str, upstream: int, log_level: str, data_dir: str) -> dict[str, str]:
    """A benchmarked gateway's environment: ``src``'s code, keyed, in front of ``upstream``,
    with ``parallel`` and ``max_queue`` large enough that nothing queues, its own SQLite."""
    return {
        **os.environ,
        "PYTHONPATH": str(Path(src).resolve()),
        "API_KEY": KEY,
        "OLLAMA_GATEWAY_BACKEND": "ollama",
        "OLLAMA_GATEWAY_OLLAMA_URL": f"http://127.0.0.1:{upstream}",
        "OLLAMA_GATEWAY_PARALLEL": "4096",
        "OLLAMA_GATEWAY_MAX_QUEUE": "100000",
        "OLLAMA_GATEWAY_LOG_LEVEL": log_level,
        "OLLAMA_GATEWAY_DATA_DIR": data_dir,
    }


def start_gateway(
    upstream: int, args: argparse.Namespace, src: str, workers: int = 1
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bench-gateway-")
    env = gateway_env(src, upstream, args.log_level, data_dir)
    env["OLLAMA_GATEWAY_PORT"] = str(port)
    command = [sys.executable, "-m", "ollama_gateway", "serve", *shlex.split(args.serve_args)]
    command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    time.sleep(0.5 * workers)  # every worker listening
    return proc, port


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its children (the workers)."""
    total = 0.0
    if pid is None:
        return total
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


CLIENTS = (1, 16, 64)


def _measure(target, path: str, body: str, headers: dict, clients: int, args) -> dict:
    """One wrk run at ``target`` (label, port, pid); CPU time of its process tree beside."""
    _, port, pid = target
    before = cpu_seconds(pid)
    result = wrk(f"http://127.0.0.1:{port}{path}", lua(body, headers), clients, args.duration)
    used = cpu_seconds(pid) - before
    result["cpu_us"] = used / max(1.0, result["rps"] * args.duration) * 1e6
    return result


def _median_of(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for name in ("rps", "p50", "p99", "cpu_us", "bad"):
        out[name] = statistics.median(run[name] for run in runs)
    out["errors"] = "; ".join(run["errors"] for run in runs if run["errors"])
    return out


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    standin, upstream = start_standin(args.tokens, args.standin)
    stack, stack_port = start_standin(args.tokens, "asgi")
    if args.standin != "raw":
        args.tokens = 4
    trees = [(src, workers) for src in args.src for workers in args.workers]
    gateways = [start_gateway(upstream, args, src, workers) for src, workers in trees]
    key = {"Content-Type": "application/json", "X-API-KEY": KEY}
    plain = {"Content-Type": "application/json"}
    chat = f'{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"stream":false}}'
    stream = chat.replace('"stream":false', '"stream":true')
    generate = f'{{"model":"{MODEL}","prompt":"hi","stream":false}}'
    cases = [
        ("seed call", ("/api/generate", generate), ("/api/generate", '{"prompt":"x"}')),
        ("/api/chat", ("/api/chat", chat), ("/api/chat", chat)),
    ]
    # every target in turn: straight to each stand-in, then each gateway
    targets = [("raw", upstream, standin.pid), ("stack", stack_port, stack.pid)]
    targets += [(f"gw{i + 1}", port, proc.pid) for i, (proc, port) in enumerate(gateways)]
    rows, stream_rows, firsts = [], [], []
    try:
        for name, direct, through in cases:
            for clients in args.clients:
                rounds: list[list[dict]] = [[] for _ in targets]
                for _ in range(args.rounds):
                    for i, target in enumerate(targets):
                        gateway = target[0].startswith("gw")
                        path, body = through if gateway else direct
                        headers = key if gateway else plain
                        rounds[i].append(_measure(target, path, body, headers, clients, args))
                rows.append((name, clients, [_median_of(r) for r in rounds]))
        for clients in (1, 16):
            rounds = [[] for _ in targets]
            for _ in range(args.rounds):
                for i, target in enumerate(targets):
                    headers = key if target[0].startswith("gw") else plain
                    rounds[i].append(_measure(target, "/api/chat", stream, headers, clients, args))
            stream_rows.append((clients, [_median_of(r) for r in rounds]))
        for label, port, _ in targets:
            header = f"X-API-KEY: {KEY}\r\n" if label.startswith("gw") else ""
            firsts.append(
                asyncio.run(first_chunks(port, "/api/chat", stream.encode(), header, args.duration))
            )
    finally:
        for proc in [proc for proc, _ in gateways] + [standin, stack]:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    report(args, [t[0] for t in targets], trees, rows, stream_rows, firsts)


def report(args, labels, trees, rows, stream_rows, firsts) -> None:
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(
        f"wrk -t1 -d{args.duration}s, median of {args.rounds} round(s); gateway: log level "
        f"{args.log_level} {args.serve_args}; upstream: {args.standin} "
        f"stand-in, {args.tokens} chunks per stream; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        "raw: bench/standin.py (asyncio protocol); "
        "stack: bench/standin_asgi.py (uvicorn + raw ASGI)"
    )
    for label, (src, workers) in zip(labels[2:], trees, strict=True):
        print(f"{label}: {src}, {workers} worker{'s' if workers > 1 else ''}")
    head = f"{'':<11}{'clients':>7} {'':<6}{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU/req':>8}"
    head += f" | {'x stack':>7} {'+p50 ms':>7} {'+p99 ms':>7} {'CPU x':>6}"
    print(head)
    print("-" * len(head))
    for name, clients, results in rows:
        stack = results[1]
        for label, result in zip(labels, results, strict=True):
            line = (
                f"{name:<11}{clients:>7} {label:<6}{result['rps']:>8.0f} {result['p50']:>7.3f} "
                f"{result['p99']:>7.3f} {result['cpu_us']:>6.0f}us"
            )
            if label.startswith("gw"):
                ratio, cpu = result["rps"] / stack["rps"], result["cpu_us"] / stack["cpu_us"]
                line += (
                    f" | {ratio:>7.2f} {result['p50'] - stack['p50']:>7.3f}"
                    f" {result['p99'] - stack['p99']:>7.3f} {cpu:>6.2f}"
                )
            print(line)
            if result["bad"] or result["errors"]:
                print(f"  ! {label}: {result['bad']:.0f} non-2xx, socket errors {result['errors']}")
            name = ""
    per = args.tokens + 1
    print()
    print(
        f"{'streaming /api/chat':<24}" + "".join(f"{label:>10}{'x stack':>8}" for label in labels)
    )
    stack_first, stack_rate = firsts[1]
    line = f"{'first chunk, ms':<24}"
    line += "".join(f"{first:>10.3f}{first - stack_first:>+8.3f}" for first, _ in firsts)
    print(line + "   (x stack: added ms)")
    line = f"{'chunks/s in 1 stream':<24}"
    print(line + "".join(f"{rate:>10.0f}{rate / stack_rate:>8.2f}" for _, rate in firsts))
    for clients, results in stream_rows:
        stack = results[1]["rps"] * per
        label = f"chunks/s, {clients} client{'s' if clients > 1 else ''}"
        print(
            f"{label:<24}"
            + "".join(f"{r['rps'] * per:>10.0f}{r['rps'] * per / stack:>8.2f}" for r in results)
        )
        cpu = [r["cpu_us"] / per for r in results]
        print(
            f"{'  CPU per chunk, us':<24}" + "".join(f"{c:>10.1f}{c / cpu[1]:>8.2f}" for c in cpu)
        )
        for label, result in zip(labels, results, strict=True):
            if result["bad"] or result["errors"]:
                print(f"  ! {label}: {result['bad']:.0f} non-2xx, socket errors {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="gateway worker processes; several counts: one gateway per count (and tree)",
    )
    parser.add_argument("--tokens", type=int, default=32, help="chunks per streamed reply")
    parser.add_argument("--log-level", default="info", choices=["info", "warning"])
    parser.add_argument("--rounds", type=int, default=1, help="rounds per figure (median)")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=list(CLIENTS), help="concurrent clients"
    )
    parser.add_argument("--serve-args", default="", help="more arguments for `serve`")
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
