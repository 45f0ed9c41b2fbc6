"""What keys with roles, quotas and usage cost the gateway, and how fast usage is written.

    python bench/accounts.py [--duration 4] [--rounds 2] [--events 50000]

Part 1, side by side in one run (``wrk``, 16 clients, the seed call through the gateway in front
of ``bench/standin.py``), each configuration a separate ``ollama-gateway serve`` process:

- ``static``: today's way, one key from ``API_KEY`` (no limits, no quota);
- ``sqlite``: a stored key (the default SQLite database) with an rpm limit, a daily token quota
  and a concurrency cap: key lookup + quota check + usage recording on every request;
- ``postgresql``: the same key in a real PostgreSQL (Debian's package, started here);
- ``postgresql+redis``: the same, with limits and quotas kept atomically in a real Redis.

Rounds are interleaved (static, sqlite, ... static, sqlite, ...) and the medians reported, so a
machine busy with other work affects every configuration alike. Targets: sqlite and postgresql
>= 0.95 of static; with Redis >= 0.90.

Part 2: the usage writer (:class:`UsageRecorder` over :class:`SqlStore`) writing ``--events``
events into SQLite and PostgreSQL: events/s end to end (target >= 5,000), and the cost of one
``record()`` call on the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from tests.support.databases import PostgresServer, RedisServer  # noqa: E402

from gateway import cpu_seconds, free_port, lua, start_standin, wait_port, wrk  # noqa: E402

STATIC_KEY = "bench-static-key-0123456789abcdef"


async def _stored_key(database_url: str) -> str:
    from ollama_gateway.accounts.db import async_url, create_engine, migrate
    from ollama_gateway.accounts.store import SqlStore

    engine = create_engine(async_url(database_url))
    await migrate(engine)
    store = SqlStore(engine)
    fields = {
        "name": "bench",
        "role": "user",
        "rpm": 10_000_000,
        "tokens_per_day": 10**12,
        "max_concurrent": 1000,
    }
    _, key = await store.create_key(fields, "bench")
    await store.close()
    return key


def start(upstream: int, env_extra: dict[str, str], data_dir: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "API_KEY": STATIC_KEY,
        "OLLAMA_GATEWAY_BACKEND": "ollama",
        "OLLAMA_GATEWAY_OLLAMA_URL": f"http://127.0.0.1:{upstream}",
        "OLLAMA_GATEWAY_PARALLEL": "4096",
        "OLLAMA_GATEWAY_MAX_QUEUE": "100000",
        "OLLAMA_GATEWAY_LOG_LEVEL": "warning",
        "OLLAMA_GATEWAY_PORT": str(port),
        "OLLAMA_GATEWAY_DATA_DIR": data_dir,
        **env_extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ollama_gateway", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc, timeout=120)
    time.sleep(0.5)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def throughput(args, upstream: int, configs: dict) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    body = '{"prompt":"x"}'
    for _ in range(args.rounds):
        for name, (env_extra, key, data_dir) in configs.items():
            proc, port = start(upstream, env_extra, data_dir)
            try:
                script = lua(body, {"Content-Type": "application/json", "X-API-KEY": key})
                url = f"http://127.0.0.1:{port}/api/generate"
                wrk(url, script, 16, 1)  # warm up
                before = cpu_seconds(proc.pid)
                result = wrk(url, script, 16, args.duration)
                used = cpu_seconds(proc.pid) - before
                if result["bad"] or result["errors"]:
                    print(f"  ! {name}: {result['bad']:.0f} non-2xx, errors {result['errors']}")
                cpu_us = used / (result["rps"] * args.duration) * 1e6
                results[name].append((result["rps"], cpu_us))
            finally:
                stop(proc)
    return results


async def writer(url: str, events: int, bulk: bool = True) -> tuple[float, float, float]:
    from ollama_gateway.accounts.db import async_url, create_engine, migrate
    from ollama_gateway.accounts.recorder import UsageRecorder
    from ollama_gateway.accounts.store import SqlStore
    from ollama_gateway.accounts.usage_event import UsageEvent

    engine = create_engine(async_url(url))
    await migrate(engine)
    store = SqlStore(engine, bulk=bulk)
    recorder = UsageRecorder(store, capacity=events + 1, batch=2000, interval=0.05)
    made = [
        UsageEvent(
            time.time(),
            f"k{i % 50}",
            f"model-{i % 5}",
            "openai",
            "/v1/chat/completions",
            200,
            12,
            34,
            5.5,
            1.25,
            f"req-{i}",
            False,
        )
        for i in range(events)
    ]
    cpu = time.process_time()
    started = time.perf_counter()
    for event in made:
        recorder.record(event)
    per_record = (time.perf_counter() - started) / events * 1e6
    recorder.start()
    while recorder.buffer:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    cpu_per_event = (time.process_time() - cpu) / events * 1e6
    await recorder.close()
    count = sum(r["requests"] for r in await store.usage(["key"]))
    await store.close()
    assert count == events, (count, events)
    return events / elapsed, per_record, cpu_per_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--writer-only", action="store_true", help="part 2 only")
    args = parser.parse_args()

    pg = PostgresServer().start()
    redis = RedisServer().start()
    standin, upstream = start_standin(32)
    tmp = tempfile.mkdtemp(prefix="ogw-bench-")
    try:
        sqlite_dir = str(Path(tmp) / "sqlite")
        sqlite_key = asyncio.run(_stored_key(f"sqlite:///{sqlite_dir}/gateway.db"))
        pg_url = pg.database()
        pg_key = asyncio.run(_stored_key(pg_url))
        static_dir = str(Path(tmp) / "static")
        configs = {
            "static": ({}, STATIC_KEY, static_dir),
            "sqlite": ({}, sqlite_key, sqlite_dir),
            "postgresql": ({"OLLAMA_GATEWAY_DATABASE_URL": pg_url}, pg_key, static_dir),
            "postgresql+redis": (
                {"OLLAMA_GATEWAY_DATABASE_URL": pg_url, "OLLAMA_GATEWAY_REDIS_URL": redis.url},
                pg_key,
                static_dir,
            ),
        }
        results = {} if args.writer_only else throughput(args, upstream, configs)
        writes = {}
        for bulk in (False, True):  # SQLAlchemy's executemany, then the driver's bulk path
            how = "driver bulk" if bulk else "SQLAlchemy"
            writes[f"sqlite, {how}"] = asyncio.run(
                writer(f"sqlite:///{tmp}/writer-{bulk}.db", args.events, bulk)
            )
            writes[f"postgresql, {how}"] = asyncio.run(writer(pg.database(), args.events, bulk))
    finally:
        standin.send_signal(signal.SIGTERM)
        standin.wait(10)
        redis.stop()
        pg.stop(remove=True)
    report(args, results, writes)


def report(args, results, writes) -> None:
    print(f"$ python bench/accounts.py --duration {args.duration} --rounds {args.rounds} "
          f"--events {args.events}")  # fmt: skip
    print(f"wrk -t1 -c16 -d{args.duration}s, seed call, medians of {args.rounds} interleaved "
          f"rounds; {os.cpu_count()} CPUs")  # fmt: skip
    if results:
        base = statistics.median(r for r, _ in results["static"])
        base_cpu = statistics.median(c for _, c in results["static"])
        head = f"{'configuration':<18}{'req/s':>9}{'ratio':>8}{'CPU/req':>10}{'CPU ratio':>10}"
        print(head + f"{'target':>9}")
        for name, runs in results.items():
            rps = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            target = {"static": "", "postgresql+redis": ">=0.90"}.get(name, ">=0.95")
            print(
                f"{name:<18}{rps:>9.0f}{rps / base:>8.3f}{cpu:>8.0f}us"
                f"{base_cpu / cpu:>10.3f}{target:>9}"
            )
        print()
    print(f"{'usage writer':<26}{'events/s':>10}{'CPU/event':>11}{'record()':>10}{'target':>9}")
    for name, (rate, per_record, cpu) in writes.items():
        print(f"{name:<26}{rate:>10.0f}{cpu:>9.1f}us{per_record:>8.2f}us{'>=5000':>9}")


if __name__ == "__main__":
    main()
