"""The grammar outside the sampler chain: the chosen token is checked first, the whole
vocabulary masked only when it is refused. Greedy output must be exactly what masking the
whole vocabulary every step gives, and a grammar no token can continue must fail the request,
not abort the process (llama.cpp aborts when a refused token is accepted)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ollama_gateway.backends.llama_cpp import sampling
from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.grammar import schema_to_gbnf
from tests.backends.llama_cpp.test_engine import PROMPTS, run

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "n": {"type": "integer", "minimum": -50, "maximum": 50},
        "tags": {"type": "array", "items": {"enum": ["a", "bb", "ccc"]}, "maxItems": 3},
    },
    "required": ["name", "n", "tags"],
}


async def test_greedy_gives_what_masking_everything_gives(tiny_model, make_engine, monkeypatch):
    grammar = schema_to_gbnf(SCHEMA)
    options = {"temperature": 0, "num_predict": 60, "grammar": grammar}
    engine = make_engine(tiny_model)
    checked = [(await run(engine, tiny_model, p, **options))[0] for p in PROMPTS]

    def mask_everything(self, ctx, index):  # the grammar first, as a chain member would be
        token = self._pick(sampling.lib().llama_get_logits_ith(ctx, index), grammar_first=True)
        sampling.lib().llama_sampler_accept(self.grammar, token)
        sampling.lib().llama_sampler_accept(self.chain, token)
        return token

    monkeypatch.setattr(sampling.Sampler, "sample", mask_everything)
    engine = make_engine(tiny_model)
    masked = [(await run(engine, tiny_model, p, **options))[0] for p in PROMPTS]
    assert checked == masked
    assert all(text.startswith("{") for text in checked)


async def test_sampling_with_a_grammar_stays_in_it(tiny_model, make_engine):
    grammar = schema_to_gbnf({"type": "array", "items": {"enum": ["x", "yy"]}, "maxItems": 5})
    engine = make_engine(tiny_model)
    for seed in range(4):
        text, _, last = await run(
            engine, tiny_model, "hello", temperature=1.5, seed=seed, num_predict=40, grammar=grammar
        )
        assert last.done_reason == "stop"
        import json

        assert set(json.loads(text)) <= {"x", "yy"}


@pytest.mark.parametrize("greedy", [True, False])
def test_a_grammar_no_token_can_continue_fails_the_request_not_the_process(tiny_path, greedy):
    script = textwrap.dedent(
        f"""
        import asyncio
        from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig
        from ollama_gateway.backends.llama_cpp.model import Model
        from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions

        async def main():
            model = Model.load({str(tiny_path)!r})
            engine = Engine(model, EngineConfig(n_ctx=256, n_parallel=1, n_threads=1))
            options = SamplingOptions(temperature={0 if greedy else 1.0}, num_predict=8,
                                      grammar='root ::= <[4000000000]>')
            try:
                async for chunk in engine.generate(model.tokenize("hello"), options):
                    pass
            except Exception as exc:
                print("failed:", exc)
            engine.close()
            model.free()

        asyncio.run(main())
        print("alive")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no token of this model can continue the output format" in done.stdout
    assert done.stdout.rstrip().endswith("alive")


def test_options_still_build(tiny_model):
    sampler = sampling.build_sampler(
        SamplingOptions(grammar=schema_to_gbnf(SCHEMA)), tiny_model.vocab, tiny_model.n_vocab, 64
    )
    assert sampler.grammar is not None and not sampler.greedy
    sampler.free()
    assert sampler.grammar is None and sampler.chain is None
