"""A lazy grammar on the real model: free text until the trigger, the grammar after it; a token
that would run past the trigger is passed over (llama.cpp's own lazy grammar would accept the
rest unchecked and abort the process when it does not fit); and a start trigger takes a reply
that opens with what the grammar allows, and leaves any other reply alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ollama_gateway.backends.llama_cpp.model import Model
from tests.backends.llama_cpp.test_engine import run
from tests.support.gguf_models import smollm2_path

PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n"
)
GREEDY = {"temperature": 0, "num_predict": 30}
SKY = 'root ::= " sky is " ("clear" | "grey") " over Paris."\n'


@pytest.fixture(scope="module")
def smollm2() -> Iterator[Model]:
    model = Model.load(smollm2_path())
    yield model
    model.free()


async def _free(engine, smollm2) -> list[str]:
    """What the model writes on its own, one piece a token."""
    _, pieces, _ = await run(engine, smollm2, PROMPT, **GREEDY)
    return [p for p in pieces if p]


async def test_free_until_the_trigger_then_constrained(smollm2, make_engine):
    engine = make_engine(smollm2, n_ctx=512, n_parallel=1, n_threads=1)
    pieces = await _free(engine, smollm2)
    trigger = "".join(pieces[:3])  # ends where a token ends
    text, _, last = await run(
        engine, smollm2, PROMPT, **GREEDY, grammar=SKY, grammar_trigger=trigger
    )
    assert text in (trigger + " sky is clear over Paris.", trigger + " sky is grey over Paris.")
    assert last.done_reason == "stop"  # the grammar is complete: only the end may follow


async def test_a_trigger_never_written_changes_nothing(smollm2, make_engine):
    engine = make_engine(smollm2, n_ctx=512, n_parallel=1, n_threads=1)
    free = "".join(await _free(engine, smollm2))
    text, _, _ = await run(engine, smollm2, PROMPT, **GREEDY, grammar=SKY, grammar_trigger="<x>")
    assert text == free


async def test_a_token_that_overruns_the_trigger_is_passed_over(smollm2, make_engine):
    """The trigger ends one character before the end of a token the model wants: that token
    would carry text past the trigger, unchecked by the grammar, so it is never taken (the
    model then goes another way, or ends the trigger with another token and the grammar holds
    after it)."""
    engine = make_engine(smollm2, n_ctx=512, n_parallel=1, n_threads=1)
    pieces = await _free(engine, smollm2)
    k = next(i for i, p in enumerate(pieces) if i >= 2 and len(p.strip()) >= 3)
    cut = "".join(pieces[: k + 1])  # the free text up to the end of a longer token
    for trigger in (cut[:-1], pieces[0][:-1]):
        for seed in (None, 1, 2):
            sampling = {"temperature": 0} if seed is None else {"temperature": 0.7, "seed": seed}
            text, _, last = await run(
                engine, smollm2, PROMPT, **sampling, num_predict=30, grammar=SKY,
                grammar_trigger=trigger,
            )  # fmt: skip
            at = text.find(trigger)
            if at >= 0:
                rest = text[at + len(trigger) :]
                assert rest in (" sky is clear over Paris.", " sky is grey over Paris.") or (
                    last.done_reason == "length" and " sky is clear over Paris.".startswith(rest)
                ), text
            assert not text.startswith(cut) or trigger != cut[:-1], text


async def test_a_start_trigger_takes_a_reply_that_opens_with_the_grammar(smollm2, make_engine):
    engine = make_engine(smollm2, n_ctx=512, n_parallel=1, n_threads=1)
    pieces = await _free(engine, smollm2)
    first = pieces[0].strip()  # the model opens with this: the grammar allows it
    starts = f'root ::= [ \\n]{{0,4}} "{first}" " is " ("sunny" | "rainy") "."\n'
    text, _, _ = await run(engine, smollm2, PROMPT, **GREEDY, grammar=starts, grammar_trigger="")
    assert text.strip() in (f"{first} is sunny.", f"{first} is rainy.")
    braces = 'root ::= "{" [a-z]+ "}"\n'  # the reply does not open with "{": left alone
    text, _, _ = await run(engine, smollm2, PROMPT, **GREEDY, grammar=braces, grammar_trigger="")
    assert text == "".join(pieces)
