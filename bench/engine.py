"""Benchmark the embedded engine's continuous batching, against llama.cpp's own llama-server.

Generates (once, into a cache directory) a random-weight model with the shape of
deepseek-r1:1.5b, then measures decode throughput for 1, 2, 4, 8 concurrent streams: aggregate
tokens/s, per-stream tokens/s and the ratio to a single stream. With ``--server`` it runs the
same load through ``llama-server`` built from the same llama.cpp sources (see
``bench/llama_server.py``; the binary is looked up in the cache) and prints engine/server ratios.

    python bench/engine.py                       # Q8_0, 1/2/4/8 streams, 64 tokens each
    python bench/engine.py --qtype Q4_K_M --server --streams 1,4
    python bench/engine.py --kind qwen2-tiny     # a quick smoke run

Numbers depend on the machine and on what else runs on it; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.support import llama_server
from tests.support.gguf_models import cached_model

from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions

CACHE = llama_server.cache_dir()
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass
class Run:
    streams: int
    tokens: int
    wall: float  # seconds from the first token of any stream to the last token of all
    per_stream: float  # mean of each stream's own decode tokens/s

    @property
    def aggregate(self) -> float:
        return self.tokens / self.wall if self.wall > 0 else 0.0


# -- the engine -------------------------------------------------------------------------------
async def engine_run(engine: Engine, prompt: list[int], streams: int, n_predict: int) -> Run:
    firsts: list[float] = []
    ends: list[float] = []
    rates: list[float] = []
    counts: list[int] = []

    async def one() -> None:
        first = None
        options = SamplingOptions(temperature=0, repeat_penalty=1.0, num_predict=n_predict)
        async for chunk in engine.generate(prompt, options):
            if first is None:
                first = time.perf_counter()
            if chunk.done:
                stats = chunk.stats
                counts.append(stats.eval_count)
                if stats.eval_duration:
                    rates.append((stats.eval_count - 1) / (stats.eval_duration / 1e9))
        firsts.append(first or time.perf_counter())
        ends.append(time.perf_counter())

    await asyncio.gather(*(one() for _ in range(streams)))
    return Run(streams, sum(counts), max(ends) - min(firsts), sum(rates) / len(rates))


def bench_engine(path: Path, streams: list[int], n_predict: int, threads: int) -> dict[int, Run]:
    model = Model.load(path)
    engine = Engine(
        model, EngineConfig(n_ctx=1024, n_parallel=max(streams), n_threads=threads, n_batch=512)
    )
    prompt = model.tokenize(PROMPT)
    try:
        asyncio.run(engine_run(engine, prompt, 1, 8))  # warm-up
        return {n: asyncio.run(engine_run(engine, prompt, n, n_predict)) for n in streams}
    finally:
        engine.close()
        model.free()


# -- llama-server ------------------------------------------------------------------------------
def server_binary() -> Path | None:
    """llama-server built from the same llama.cpp sources, when it is in the cache."""
    return llama_server.built()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def server_run(url: str, streams: int, n_predict: int) -> Run:
    import httpx

    body = {
        "prompt": PROMPT,
        "n_predict": n_predict,
        "temperature": 0,
        "repeat_penalty": 1.0,
        "cache_prompt": False,
        "ignore_eos": False,
    }
    firsts: list[float] = []
    ends: list[float] = []
    rates: list[float] = []
    counts: list[int] = []
    async with httpx.AsyncClient(timeout=600) as client:

        async def one() -> None:
            start = time.perf_counter()
            resp = await client.post(f"{url}/completion", json=body)
            resp.raise_for_status()
            timings = resp.json()["timings"]
            end = time.perf_counter()
            counts.append(timings["predicted_n"])
            rates.append(timings["predicted_per_second"])
            firsts.append(start + timings["prompt_ms"] / 1000)
            ends.append(end)

        await asyncio.gather(*(one() for _ in range(streams)))
    return Run(streams, sum(counts), max(ends) - min(firsts), sum(rates) / len(rates))


def bench_server(
    binary: Path, path: Path, streams: list[int], n_predict: int, threads: int
) -> dict[int, Run]:
    import httpx

    port = _free_port()
    n_par = max(streams)
    cmd = [
        str(binary), "-m", str(path), "--host", "127.0.0.1", "--port", str(port),
        "-c", str(1024 * n_par), "-np", str(n_par), "-t", str(threads), "-tb", str(threads),
        "-b", "512", "-fa", "off", "--kv-unified", "--no-warmup",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError("llama-server exited:\n" + log.read().decode()[-2000:])
                time.sleep(0.5)
            asyncio.run(server_run(url, 1, 8))  # warm-up
            return {n: asyncio.run(server_run(url, n, n_predict)) for n in streams}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- report -----------------------------------------------------------------------------------
def report(title: str, runs: dict[int, Run]) -> None:
    base = runs[min(runs)].aggregate
    print(f"\n{title}")
    print(f"{'streams':>8} {'aggregate tok/s':>16} {'per-stream tok/s':>17} {'vs 1 stream':>12}")
    for n, run in runs.items():
        ratio = run.aggregate / base if base else 0.0
        print(f"{n:>8} {run.aggregate:>16.2f} {run.per_stream:>17.2f} {ratio:>11.2f}x")


def shared_models_dir() -> Path | None:
    """``<repo>/../shared/models`` (reference tokenizers) when it exists: benchmarks only.

    A git worktree may sit deeper than the clone (``<clone-parent>/wt/<name>``), so the nearest
    ancestor of the repository holding ``shared/models`` wins.
    """
    for ancestor in Path(__file__).resolve().parents[1].parents:
        candidate = ancestor / "shared" / "models"
        if candidate.is_dir():
            return candidate
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="deepseek-r1-1.5b", help="deepseek-r1-1.5b, qwen2-tiny")
    parser.add_argument("--qtype", default="Q8_0", help="Q8_0, Q4_K_M, F16, F32")
    parser.add_argument("--streams", default="1,2,4,8")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per stream")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--server", action="store_true", help="compare with llama-server")
    parser.add_argument("--cache", type=Path, default=CACHE / "models")
    args = parser.parse_args()
    streams = sorted({int(s) for s in args.streams.split(",")})

    start = time.perf_counter()
    shared = shared_models_dir()
    vocabulary = "qwen2" if shared and (shared / "ggml-vocab-qwen2.gguf").is_file() else "smollm2"
    if vocabulary != "qwen2":
        print("../shared/models is absent: the model gets SmolLM2's vocabulary, not Qwen2's")
    path = cached_model(args.cache, args.kind, args.qtype, vocabulary, shared)
    print(f"model: {path} ({path.stat().st_size / 1e9:.2f} GB, ready in "
          f"{time.perf_counter() - start:.1f} s); threads: {args.threads}")  # fmt: skip

    engine_runs = bench_engine(path, streams, args.tokens, args.threads)
    report("embedded engine", engine_runs)
    if not args.server:
        return
    binary = server_binary()
    if binary is None:
        print("\nllama-server not built: run `python bench/llama_server.py` first")
        return
    server_runs = bench_server(binary, path, streams, args.tokens, args.threads)
    report("llama-server (same llama.cpp)", server_runs)
    print(f"\n{'streams':>8} {'engine/server aggregate':>24} {'engine/server per-stream':>25}")
    for n in streams:
        e, s = engine_runs[n], server_runs[n]
        print(f"{n:>8} {e.aggregate / s.aggregate:>23.2f}x {e.per_stream / s.per_stream:>24.2f}x")


if __name__ == "__main__":
    main()
