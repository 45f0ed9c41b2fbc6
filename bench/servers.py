"""Which ASGI server the gateway runs on: the same apps under uvicorn and under granian.

    python bench/servers.py [--duration 3] [--rounds 3] [--tokens 32]

Needs ``wrk`` and, for the comparison, ``pip install granian`` (not a dependency of the
gateway). In one run, rounds interleaved, medians:

- the same-stack stand-in (``bench/standin_asgi.py``'s raw ASGI app, canned replies): what each
  server itself costs per request;
- the gateway (keyed, access log on) in front of the raw stand-in (``bench/standin.py``), built
  the way ``serve --workers`` builds a worker's app, so both servers run the very same app.

Both servers run one process with their fastest settings (uvicorn: uvloop + httptools, as
``serve`` runs it; granian: its Rust HTTP/1 server with the asyncio loop it chooses). Reported:
requests/s and CPU time per request (the server's process tree) at 16 clients for a seed call,
and chunks/s of a streamed ``/api/chat`` at 16 clients.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import KEY, MODEL, cpu_seconds, free_port, lua, start_standin, wait_port, wrk

ROOT = Path(__file__).resolve().parents[1]
SEED = '{"prompt":"x"}'
STREAM = f'{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"stream":true}}'
DIRECT = f'{{"model":"{MODEL}","prompt":"hi","stream":false}}'


def _gateway_env(upstream: int) -> dict[str, str]:
    """The environment ``serve --workers`` gives a worker: the settings, keys as digests."""
    from ollama_gateway.cli.serve import _WORKER_SETTINGS, _settings_for_workers
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        api_keys=KEY,
        backend="ollama",
        ollama_url=f"http://127.0.0.1:{upstream}",
        parallel=4096,
        max_queue=100000,
        data_dir=tempfile.mkdtemp(prefix="bench-servers-"),
    )
    return {**os.environ, _WORKER_SETTINGS: _settings_for_workers(settings)}


def start(server: str, app: str, upstream: int, tokens: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if app == "stack":
        target, env = "standin_asgi:make_app", {**os.environ, "STANDIN_TOKENS": str(tokens)}
        cwd = str(ROOT / "bench")
    else:
        target, env, cwd = "ollama_gateway.cli.serve:worker_app", _gateway_env(upstream), None
    if server == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", "--factory", target, "--loop", "uvloop"]
        command += ["--http", "httptools", "--no-access-log", "--no-server-header"]
        command += ["--log-level", "warning"]
    else:
        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", target]
        command += ["--no-ws", "--log-level", "warning"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "bench")])
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port, proc)
    return proc, port


def measure(pid: int, port: int, path: str, body: str, key: bool, duration: float) -> dict:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-API-KEY"] = KEY
    url = f"http://127.0.0.1:{port}{path}"
    wrk(url, lua(body, headers), 16, 1.0)  # warm-up
    before = cpu_seconds(pid)
    result = wrk(url, lua(body, headers), 16, duration)
    result["cpu_us"] = (cpu_seconds(pid) - before) / max(1.0, result["rps"] * duration) * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    servers = ["uvicorn"]
    if importlib.util.find_spec("granian") is not None:
        servers.append("granian")
    else:
        print("granian is not installed (pip install granian): uvicorn only")
    standin, upstream = start_standin(args.tokens)
    cases = [
        ("stack", "seed", "/api/generate", DIRECT, False),
        ("stack", "stream", "/api/chat", STREAM, False),
        ("gateway", "seed", "/api/generate", SEED, True),
        ("gateway", "stream", "/api/chat", STREAM, True),
    ]
    results: dict[tuple[str, str, str], list[dict]] = {}
    try:
        for _ in range(args.rounds):
            for server in servers:
                for app in ("stack", "gateway"):
                    proc, port = start(server, app, upstream, args.tokens)
                    try:
                        for case_app, name, path, body, key in cases:
                            if case_app == app:
                                found = measure(proc.pid, port, path, body, key, args.duration)
                                results.setdefault((server, app, name), []).append(found)
                    finally:
                        proc.send_signal(signal.SIGTERM)
                        proc.wait(30)
    finally:
        standin.send_signal(signal.SIGTERM)
        standin.wait(15)
    print("$ " + " ".join([sys.executable, *sys.argv]))
    print(
        f"wrk -t1 -c16 -d{args.duration}s, median of {args.rounds} interleaved rounds; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<26}" + "".join(f"{s + ' req/s':>15}{'CPU/req':>10}" for s in servers))
    per = args.tokens + 1
    for app in ("stack", "gateway"):
        for name in ("seed", "stream"):
            line = f"{app + ', ' + name + (' (chunks/s)' if name == 'stream' else ''):<26}"
            for server in servers:
                runs = results[(server, app, name)]
                scale = per if name == "stream" else 1
                rate = statistics.median(r["rps"] for r in runs) * scale
                cpu = statistics.median(r["cpu_us"] for r in runs) / scale
                line += f"{rate:>15.0f}{cpu:>8.1f}us"
            print(line)


if __name__ == "__main__":
    main()
