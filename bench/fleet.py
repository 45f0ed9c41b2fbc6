"""The fleet: routing cost, scaling over upstreams, uneven upstreams, failover. One run.

    python bench/fleet.py [--duration 4] [--src DIR]

Four measurements, each against a baseline taken in the same run:

1. **Routing decision** (in-process): the router's own steps for one request (the upstreams
   serving the model, the strategy's pick, taking and releasing the slot) with 4 upstreams, for
   least-in-flight, round-robin and affinity (plus hashing a 2 kB conversation for its key).
   Target: <= 10 us.
2. **Throughput, 4 upstreams vs 1**: ``ollama-gateway serve`` as a fleet of 1 and of 4 instant
   stand-ins (``bench/standin.py``, one process on 4 ports), the seed call at 16 clients
   (``wrk``), rounds alternated; requests/s and the gateway's CPU time per request (steadier on a
   shared machine: capacity is its inverse); the plain Ollama backend in front of one stand-in is
   printed beside for reference. Target: 4/1 >= 0.95.
3. **Uneven upstreams**: two stand-ins, one 3x slower (100 ms vs 300 ms a reply), 16 clients for
   ``--duration`` seconds; requests per upstream (from the gateway's ``/metrics``) with
   least-in-flight and with round-robin. Target: least-in-flight sends the fast one >= 2x.
4. **Failover**: three fake Ollama processes streaming 4 tokens 10 ms apart, 16 clients in a
   loop; one upstream is killed (SIGKILL) and later restarted. Latency p50/p99 before, during
   and after; requests that failed before their first byte (target: 0) and streams cut after
   they began (in-band errors) counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import KEY, ROOT, cpu_seconds, free_port, lua, wait_port, wrk

MODEL = "deepseek-r1:1.5b"
SEED = '{"prompt":"x"}'


# -- 1. routing decision -------------------------------------------------------------------
def routing_decision(iterations: int = 200_000) -> list[tuple[str, float]]:
    from ollama_gateway.backends.router.backend import NOTHING_TRIED, RouterBackend
    from ollama_gateway.backends.router.strategies import Affinity, LeastInFlight, RoundRobin
    from ollama_gateway.backends.router.strategies import session_key as key_of
    from ollama_gateway.backends.router.upstream import Upstream, model_key
    from ollama_gateway.core.types import GenerationRequest, Message
    from ollama_gateway.settings import Settings

    settings = Settings(_env_file=None, upstreams=[f"http://u{i}:11434" for i in range(4)])
    router = RouterBackend(settings)
    for config in settings.upstreams:
        upstream = Upstream(
            config.name, config, None, max_in_flight=64, breaker_failures=3, aliases={}
        )
        upstream.set_models([MODEL, "llama2:latest"])
        upstream.set_warm([MODEL] if config.name != "u0:11434" else [])
        router.registry.upstreams.append(upstream)
        router.registry.by_name[upstream.name] = upstream
    key = model_key(MODEL)
    conversation = GenerationRequest(
        model=MODEL,
        kind="chat",
        messages=[Message("system", "s" * 500), Message("user", "u" * 1500)],
    )
    session = key_of(conversation, 2048)
    out = []
    for label, strategy, with_session in (
        ("least in flight", LeastInFlight(), None),
        ("round robin", RoundRobin(), None),
        ("affinity", Affinity(LeastInFlight()), session),
    ):
        router.strategy = strategy
        started = time.process_time()  # CPU time: steady on a shared machine
        for _ in range(iterations):
            chosen = router._choose(key, with_session, NOTHING_TRIED)
            router.admission.release(chosen)
        out.append((label, (time.process_time() - started) / iterations * 1e6))
    started = time.process_time()
    for _ in range(iterations // 10):
        key_of(conversation, 2048)
    out.append(("session key, 2 kB", (time.process_time() - started) / (iterations // 10) * 1e6))
    return out


# -- processes -----------------------------------------------------------------------------
def start(command: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    return proc


def standin(delay: float = 0.0, count: int = 1) -> tuple[subprocess.Popen, list[int]]:
    """One stand-in process listening on ``count`` ports (so that 4 upstreams cost the machine
    what 1 does: the comparison is the gateway's, not the scheduler's)."""
    ports = [free_port() for _ in range(count)]
    script = str(ROOT / "bench" / "standin.py")
    command = [sys.executable, script, ",".join(map(str, ports)), "4", str(delay)]
    proc = start(command, ports[0])
    for port in ports[1:]:
        wait_port(port, proc)
    return proc, ports


def fake_ollama(port: int, token_delay: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.support.fake_ollama", str(port), str(token_delay)]
    return start(command, port)


def gateway(src: str, config: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    handle = tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False)  # noqa: SIM115
    handle.write(orjson.dumps(config))  # JSON is YAML
    handle.close()
    env = {"PYTHONPATH": str(Path(src).resolve()), "API_KEY": KEY}
    command = [sys.executable, "-m", "ollama_gateway", "serve", "--port", str(port)]
    command += ["--config", handle.name, "--log-level", "warning"]
    proc = start(command, port, env)
    time.sleep(0.5)  # first discovery round done
    return proc, port


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def fleet_config(ports: list[int], **extra) -> dict:
    upstreams = [{"name": f"u{i}", "url": f"http://127.0.0.1:{p}"} for i, p in enumerate(ports)]
    return {"upstreams": upstreams, "parallel": 4096, "max_queue": 100000, **extra}


def seed_rps(port: int, duration: float) -> dict[str, float]:
    headers = {"Content-Type": "application/json", "X-API-KEY": KEY}
    return wrk(f"http://127.0.0.1:{port}/api/generate", lua(SEED, headers), 16, duration)


def per_upstream(port: int) -> dict[str, float]:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-API-KEY": KEY}).text
    found = re.findall(r'upstream_requests_total\{status="ok",upstream="(\w+)"\} ([\d.e+]+)', text)
    return {name: float(count) for name, count in found}


# -- 2. throughput ---------------------------------------------------------------------------
def throughput(args) -> list[tuple[str, dict]]:
    stand_in, ports = standin(count=4)
    rows = []
    plain = {"backend": "ollama", "ollama_url": f"http://127.0.0.1:{ports[0]}"}
    plain.update(parallel=4096, max_queue=100000)
    try:
        cases = [
            ("ollama backend, 1", plain),
            ("fleet of 1", fleet_config(ports[:1])),
            ("fleet of 4", fleet_config(ports)),
        ]
        for _round in range(args.rounds):
            for label, config in cases:
                proc, port = gateway(args.src, config)
                try:
                    before = cpu_seconds(proc.pid)
                    result = seed_rps(port, args.duration)
                    used = cpu_seconds(proc.pid) - before
                    result["cpu_us"] = used / (result["rps"] * args.duration) * 1e6
                    rows.append((label, result))
                finally:
                    stop(proc)
    finally:
        stop(stand_in)
    return rows


# -- 3. uneven -------------------------------------------------------------------------------
def uneven(args) -> list[tuple[str, dict[str, float], float]]:
    fast, (fast_port,) = standin(0.1)
    slow, (slow_port,) = standin(0.3)
    rows = []
    try:
        for routing in ("least_in_flight", "round_robin"):
            config = fleet_config([fast_port, slow_port], routing=routing)
            config["upstreams"][0]["name"], config["upstreams"][1]["name"] = "fast", "slow"
            proc, port = gateway(args.src, config)
            try:
                result = seed_rps(port, args.duration)
                rows.append((routing, per_upstream(port), result["rps"]))
            finally:
                stop(proc)
    finally:
        stop(fast, slow)
    return rows


# -- 4. failover -----------------------------------------------------------------------------
async def failover_load(port: int, ups: list, phase_seconds: float) -> dict:
    import aiohttp

    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    phase = "before"
    samples: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    failed_unstarted = {"before": 0, "during": 0, "after": 0}
    cut = {"before": 0, "during": 0, "after": 0}
    stopping = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not stopping.is_set():
            mine = phase
            started = time.perf_counter()
            lines = 0
            try:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/chat", data=body, headers={"X-API-KEY": KEY}
                ) as r:
                    if r.status != 200:
                        failed_unstarted[mine] += 1
                        continue
                    error = False
                    async for line in r.content:
                        if b'"error"' in line:
                            error = True
                        lines += 1
                    if error:
                        cut[mine] += 1
                        continue
            except aiohttp.ClientError:
                if lines == 0:
                    failed_unstarted[mine] += 1
                else:
                    cut[mine] += 1
                continue
            samples[mine].append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(16)]
        await asyncio.sleep(phase_seconds)
        phase = "during"
        victim_port, victim = ups[1]
        victim.kill()
        await asyncio.to_thread(victim.wait)
        await asyncio.sleep(phase_seconds)
        restarted = await asyncio.to_thread(fake_ollama, victim_port, 0.01)  # loop keeps going
        ups[1] = (victim_port, restarted)
        await asyncio.sleep(1.0)  # a health interval: it rejoins
        phase = "after"
        await asyncio.sleep(phase_seconds)
        stopping.set()
        await asyncio.gather(*tasks)
    return {"samples": samples, "failed": failed_unstarted, "cut": cut}


def failover(args) -> dict:
    ports = [free_port() for _ in range(3)]
    ups = [(p, fake_ollama(p, 0.01)) for p in ports]
    proc, port = gateway(args.src, fleet_config(ports, health_interval=1.0))
    try:
        return asyncio.run(failover_load(port, ups, args.duration))
    finally:
        stop(proc, *(p for _, p in ups))


# -- report ----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (alternated)")
    parser.add_argument("--src", default=str(ROOT / "src"), help="the gateway's source tree")
    parser.add_argument("--only", default="1234", help="which measurements, e.g. 34")
    args = parser.parse_args()
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(f"{os.cpu_count()} CPUs; wrk -t1 -c16 -d{args.duration:g}s\n")

    if "1" in args.only:
        print("1. routing decision, 4 upstreams, CPU time per decision (target <= 10 us)")
        for label, micros in routing_decision():
            print(f"   {label:<20}{micros:>8.2f} us")
    if "2" in args.only:
        report_throughput(args)
    if "3" in args.only:
        report_uneven(args)
    if "4" in args.only:
        report_failover(args)


def report_throughput(args) -> None:
    print("\n2. seed call, 16 clients, instant stand-ins (target: fleet of 4 >= 0.95x fleet of 1)")
    rows = throughput(args)
    rps: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for label, result in rows:
        rps.setdefault(label, []).append(result["rps"])
        cpu.setdefault(label, []).append(result["cpu_us"])
        bad = f"  ({result['bad']:.0f} non-2xx)" if result["bad"] else ""
        print(
            f"   {label:<20}{result['rps']:>8.0f} req/s  p50 {result['p50']:>6.2f} ms  "
            f"gateway CPU {result['cpu_us']:>5.0f} us/request{bad}"
        )
    med = {label: statistics.median(values) for label, values in rps.items()}
    cost = {label: statistics.median(values) for label, values in cpu.items()}
    print(
        f"   medians: req/s fleet of 4 / fleet of 1 = {med['fleet of 4'] / med['fleet of 1']:.2f}; "
        f"capacity (1 / CPU per request) fleet of 4 / fleet of 1 = "
        f"{cost['fleet of 1'] / cost['fleet of 4']:.2f}; "
        f"fleet of 1 / ollama backend = {cost['ollama backend, 1'] / cost['fleet of 1']:.2f}"
    )


def report_uneven(args) -> None:
    print("\n3. uneven upstreams: fast 100 ms, slow 300 ms (target: least in flight fast >= 2x)")
    for routing, counts, rps in uneven(args):
        fast, slow = counts.get("fast", 0), counts.get("slow", 0)
        ratio = fast / slow if slow else float("inf")
        print(
            f"   {routing:<16} fast {fast:>6.0f}  slow {slow:>6.0f}  fast/slow {ratio:>5.2f}"
            f"  ({rps:.0f} req/s)"
        )


def report_failover(args) -> None:
    print("\n4. failover: 3 upstreams, 16 streaming clients, one killed then restarted")
    result = failover(args)
    print(
        f"   {'phase':<8}{'ok':>7}{'p50 ms':>9}{'p99 ms':>9}{'failed, not started':>21}"
        f"{'cut mid-stream':>16}"
    )
    for phase in ("before", "during", "after"):
        values = result["samples"][phase]
        print(
            f"   {phase:<8}{len(values):>7}{pct(values, 0.5):>9.1f}{pct(values, 0.99):>9.1f}"
            f"{result['failed'][phase]:>21}{result['cut'][phase]:>16}"
        )


if __name__ == "__main__":
    main()
