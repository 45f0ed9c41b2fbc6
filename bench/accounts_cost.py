"""What a stored key costs per request, in-process and exactly: bytecodes, CPU, and where.

    python bench/accounts_cost.py [--src DIR ...] [--requests 400] [--profile CONFIG]

For each source tree (default: this checkout's) and each configuration (``sqlite``,
``postgresql``, ``postgresql+redis``), a child process builds the app with an instant backend
and drives the ASGI app directly (no sockets), with two keys side by side:

- ``static``: an ``API_KEY`` key (admin, no limits);
- ``stored``: a stored ``user`` key with an rpm limit, a daily token quota and a concurrency cap
  (the key of ``bench/accounts.py``).

Per seed call it reports the Python bytecodes executed (``sys.settrace`` opcode events over
``--requests`` requests, **including the background work they cause**: the usage writer's batch
and, with Redis, the settling are flushed inside the traced window), and CPU time (the lowest of
7 rounds, the flushes included). Bytecodes are exact and repeatable, so a machine loaded by
others does not move them; they leave out C work (the drivers' sockets, SQLite itself, Redis).
The extra cost of the stored key is ``stored - static``; the ratio ``static / stored`` is the
throughput ratio the gateway would see if the request were all it did.

``--profile CONFIG`` prints cProfile's top functions (by own time) for the stored key instead.
PostgreSQL and Redis are the Debian packages, started here in temporary directories.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from contextvars import Context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from asgi_drive import (  # noqa: E402
    drive,
    http_scope,
    instant_backend,
)

STATIC_KEY = "bench-static-key-0123456789abcdef"
BODY = b'{"prompt": "Why is the sky blue?"}'
STORED_FIELDS = {
    "name": "bench",
    "role": "user",
    "rpm": 10_000_000,
    "tokens_per_day": 10**12,
    "max_concurrent": 1000,
}
CONFIGS = ("sqlite", "postgresql", "postgresql+redis")


async def _flush(accounts) -> None:
    """Write what the requests left behind (usage events, Redis settles) now."""
    if accounts.recorder is not None:
        await accounts.recorder.flush()
    shared = accounts.shared
    if shared is not None:
        flush = getattr(shared, "flush", None) or shared._flush
        await flush()


async def _child(args) -> dict:
    from contextlib import AsyncExitStack

    from ollama_gateway.app import create_app
    from ollama_gateway.observability.logs import configure_logging
    from ollama_gateway.settings import Settings

    values = {"database_url": args.database_url} if args.database_url else {}
    if args.redis_url:
        values["redis_url"] = args.redis_url
    settings = Settings(
        _env_file=None,
        api_keys=STATIC_KEY,
        parallel=4096,
        max_queue=100000,
        data_dir=args.data_dir,
        **values,
    )
    configure_logging(settings)
    for handler in logging.getLogger().handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    app = create_app(settings, backend=instant_backend())
    out: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        accounts = app.state.accounts
        # Only this loop writes usage (the writer's own task would race the flushes here, and
        # its timer would make the counts depend on timing).
        await accounts.recorder.close()
        record, stored = await accounts.store.create_key(dict(STORED_FIELDS), "bench")
        await accounts.changed(record["id"])
        keys = {"static": STATIC_KEY, "stored": stored}
        scripts = _count_scripts(accounts.shared)

        async def one(key: str) -> None:
            scope = http_scope("POST", "/api/generate", BODY, [(b"x-api-key", key.encode())])
            # its own task and a fresh context, as uvicorn runs each request
            status = await asyncio.create_task(drive(app, scope, BODY), context=Context())
            assert status == 200, status

        async def batch(key: str, n: int) -> None:
            for _ in range(n):
                await one(key)
            await _flush(accounts)

        for key in keys.values():
            await batch(key, 300)  # warm: caches, leases, prepared statements
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await batch(keys[args.key], args.requests)
            profile.disable()
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text).sort_stats("tottime")
            stats.print_stats(30)
            return {"profile": text.getvalue()}  # type: ignore[dict-item]
        for name, key in keys.items():
            ops = 0
            where: dict[str, int] = {}

            def count(frame, event, arg):
                nonlocal ops
                frame.f_trace_opcodes = True
                if event == "opcode":
                    ops += 1
                return count

            def locate(frame, event, arg, where=where):
                nonlocal ops
                frame.f_trace_opcodes = True
                if event == "opcode":
                    ops += 1
                    code = frame.f_code
                    place = f"{_short(code.co_filename)}:{code.co_name}"
                    where[place] = where.get(place, 0) + 1
                return locate

            trace = locate if args.where else count
            before = scripts[0]
            with _slow_clock():
                sys.settrace(trace)
                await batch(key, args.requests)
                sys.settrace(None)
            traced_scripts = scripts[0] - before
            rounds = []
            for _ in range(7):
                started = time.process_time()
                await batch(key, args.requests)
                rounds.append((time.process_time() - started) / args.requests * 1e6)
            out[name] = {"ops": ops / args.requests, "cpu_us": min(rounds)}
            out[name]["scripts"] = traced_scripts / args.requests
            out[name].update({"at:" + k: v / args.requests for k, v in where.items()})
    return out


def _count_scripts(shared) -> list[int]:
    """A counter of the Lua scripts ``shared`` runs in Redis (round trips and settles)."""
    count = [0]
    if shared is None:
        return count
    for name in ("_sync", "_admit", "_settle"):
        script = getattr(shared, name, None)
        if script is None:
            continue

        def counting(*a, _script=script, **k):
            count[0] += 1
            return _script(*a, **k)

        setattr(shared, name, counting)
    return count


@contextlib.contextmanager
def _slow_clock(factor: float = 1000.0):
    """Tracing makes every request tens of times slower: the Redis leases' timers (how long an
    unused lease is held, how long usage waits to be settled) are stretched alike while it runs,
    so the traced requests see the leases they would see at full speed."""
    try:
        from ollama_gateway.accounts import lease, shared
    except ImportError:  # a tree without leases
        yield
        return
    saved = {(m, n): getattr(m, n) for m in (lease, shared) for n in ("LEASE_TTL", "SETTLE_DELAY")}
    for (module, name), value in saved.items():
        setattr(module, name, value * factor)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("ollama_gateway", "site-packages", "python3.11"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    return filename


def _where(result: dict, top: int = 25) -> list[str]:
    """The functions whose bytecodes per request differ most between the two keys."""
    static, stored = result["static"], result["stored"]
    places = {k for k in (*static, *stored) if k.startswith("at:")}
    diff = {k[3:]: stored.get(k, 0) - static.get(k, 0) for k in places}
    ranked = sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]
    return [f"  {d:>+9.1f}  {place}" for place, d in ranked if abs(d) >= 0.5]


def _servers(configs):
    from tests.support.databases import PostgresServer, RedisServer

    pg = PostgresServer().start() if any("postgresql" in c for c in configs) else None
    redis = RedisServer().start() if any("redis" in c for c in configs) else None
    return pg, redis


def _run_child(src: str, config: str, pg, redis, args) -> dict:
    data_dir = tempfile.mkdtemp(prefix="ogw-cost-")
    command = [sys.executable, __file__, "--child", "--requests", str(args.requests)]
    command += ["--data-dir", data_dir]
    if "postgresql" in config:
        command += ["--database-url", pg.database()]
    if "redis" in config:
        command += ["--redis-url", redis.url]
    if args.profile:
        command += ["--profile", config, "--key", args.key]
    if args.where:
        command += ["--where"]
    env = {**os.environ, "PYTHONPATH": f"{Path(src).resolve()}:{ROOT}"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{config} ({src}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", help="a source tree (repeat to compare)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--config", action="append", choices=CONFIGS)
    parser.add_argument("--profile", choices=CONFIGS, help="cProfile a key (--key) instead")
    parser.add_argument("--key", choices=("static", "stored"), default="stored")
    parser.add_argument("--where", action="store_true", help="bytecodes by function, too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args))))
        return
    sources = args.src or [str(ROOT / "src")]
    configs = [args.profile] if args.profile else (args.config or list(CONFIGS))
    pg, redis = _servers(configs)
    try:
        results = {(s, c): _run_child(s, c, pg, redis, args) for s in sources for c in configs}
    finally:
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop(remove=True)
    print("$ " + " ".join(["python", *sys.argv]))
    if args.profile:
        for result in results.values():
            print(result["profile"])
        return
    for i, src in enumerate(sources):
        print(f"src{i + 1}: {src}")
    print(f"seed call, in-process, {args.requests} requests per count, background work included")
    print(
        f"{'configuration':<28}{'static ops':>11}{'stored ops':>11}{'extra':>8}{'ratio':>7}"
        f"{'static CPU':>12}{'stored CPU':>12}{'ratio':>7}{'Redis/req':>10}"
    )
    for (src, config), r in results.items():
        name = config if len(sources) == 1 else f"{config} (src{sources.index(src) + 1})"
        s, k = r["static"], r["stored"]
        print(
            f"{name:<28}{s['ops']:>11.0f}{k['ops']:>11.0f}{k['ops'] - s['ops']:>8.0f}"
            f"{s['ops'] / k['ops']:>7.3f}{s['cpu_us']:>10.1f}us{k['cpu_us']:>10.1f}us"
            f"{s['cpu_us'] / k['cpu_us']:>7.3f}{k.get('scripts', 0):>10.3f}"
        )
    if args.where:
        for (src, config), r in results.items():
            print(f"\nextra bytecodes per request by function, stored - static: {config} ({src})")
            print("\n".join(_where(r)))


if __name__ == "__main__":
    main()
