"""The continuous-batching engine, on real llama.cpp inference over generated models."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.errors import ContextTooLong

PROMPTS = ["hello world", "the cat and the dog", "water is hot", "one two", "people say", "yes"]


async def run(engine, model, prompt, **options):
    """(text, chunks, final chunk) of one generation."""
    texts = []
    last = None
    async for chunk in engine.generate(model.tokenize(prompt), SamplingOptions(**options)):
        texts.append(chunk.text)
        last = chunk
    return "".join(texts), texts, last


def greedy(**extra):
    return {"temperature": 0, "num_predict": 32, **extra}


async def test_greedy_is_deterministic(tiny_model, make_engine):
    engine = make_engine(tiny_model)
    first, _, last = await run(engine, tiny_model, "hello world", **greedy())
    second, _, _ = await run(make_engine(tiny_model), tiny_model, "hello world", **greedy())
    assert first == second
    assert len(first) > 10
    assert last.done and last.done_reason == "length"


async def test_fixed_seed_is_deterministic_and_seeds_differ(tiny_model, make_engine):
    engine = make_engine(tiny_model)
    opts = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "num_predict": 48}
    a, _, _ = await run(engine, tiny_model, "hello", seed=42, **opts)
    b, _, _ = await run(engine, tiny_model, "hello", seed=42, **opts)
    c, _, _ = await run(engine, tiny_model, "hello", seed=43, **opts)
    assert a == b
    assert a != c


async def test_stats_count_tokens_and_time(tiny_model, make_engine):
    engine = make_engine(tiny_model)
    _, _, last = await run(engine, tiny_model, "hello world", **greedy(num_predict=7))
    stats = last.stats
    assert stats.prompt_eval_count == len(tiny_model.tokenize("hello world"))
    assert stats.eval_count == 7
    assert stats.prompt_eval_duration > 0
    assert stats.eval_duration > 0
    assert last.context[: stats.prompt_eval_count] == tiny_model.tokenize("hello world")
    assert len(last.context) == stats.prompt_eval_count + 7


@pytest.mark.parametrize("n", [0, 1, 5])
async def test_num_predict(tiny_model, make_engine, n):
    engine = make_engine(tiny_model)
    text, _, last = await run(engine, tiny_model, "hello", **greedy(num_predict=n))
    assert last.stats.eval_count == n
    assert last.done_reason == "length"
    assert (text == "") == (n == 0)


async def test_stop_sequence_cuts_before_it_and_never_leaks(tiny_model, make_engine):
    engine = make_engine(tiny_model)
    full, _, _ = await run(engine, tiny_model, "hello world", **greedy(num_predict=64))
    stop = full[12:15]
    expected = full[: full.index(stop)]
    text, chunks, last = await run(
        engine, tiny_model, "hello world", **greedy(num_predict=64, stop=(stop,))
    )
    assert text == expected
    assert last.done_reason == "stop"
    assert all(stop not in chunk for chunk in chunks)


async def test_partial_stop_match_is_released_when_it_does_not_complete(tiny_model, make_engine):
    engine = make_engine(tiny_model)
    full, _, _ = await run(engine, tiny_model, "hello world", **greedy())
    never = full[5:8] + "\x00never"  # starts like the output, never completes
    text, _, last = await run(engine, tiny_model, "hello world", **greedy(stop=(never,)))
    assert text == full
    assert last.done_reason == "length"


async def test_output_is_utf8_safe_across_byte_tokens(tiny_model, make_engine):
    # Characters outside the vocabulary come out one byte token at a time; a grammar makes the
    # model write them.
    engine = make_engine(tiny_model)
    target = "жж🎉中é日本語 ok"
    grammar = f'root ::= "{target}"'
    text, chunks, last = await run(
        engine, tiny_model, "hello", **greedy(num_predict=100, grammar=grammar)
    )
    assert text == target
    assert "\ufffd" not in text
    assert len(chunks) > 5  # streamed in pieces, yet never half a character
    assert last.done_reason == "stop"
    pieces = [tiny_model.piece(t) for t in tiny_model.tokenize("ж", add_special=False)]
    assert pieces[-2:] == [b"\xd0", b"\xb6"]  # really one byte-fallback token per byte


async def test_concurrent_requests_get_what_they_get_alone(tiny_model, tiny_q8_model, make_engine):
    for model in (tiny_model, tiny_q8_model):
        engine = make_engine(model, n_parallel=4)
        for options in (greedy(), {"seed": 5, "num_predict": 32, "temperature": 0.9}):
            alone = [(await run(engine, model, p, **options))[0] for p in PROMPTS]
            together = await asyncio.gather(*(run(engine, model, p, **options) for p in PROMPTS))
            assert [t[0] for t in together] == alone


async def test_sequences_really_share_decode_steps(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_parallel=4)
    await asyncio.gather(*(run(engine, tiny_model, p, **greedy()) for p in PROMPTS[:4]))
    # One at a time would take 4 x 32 = 128 steps; batched, they advance together (about 33
    # steps; a request that arrives a step or two late still shares the rest).
    assert engine.steps <= 64
    assert engine.tokens_generated == 4 * 32


async def test_more_requests_than_slots_wait_their_turn(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_parallel=2)
    results = await asyncio.gather(*(run(engine, tiny_model, p, **greedy()) for p in PROMPTS))
    assert all(r[2].stats.eval_count == 32 for r in results)
    assert engine.free_slots == 2
    assert engine.busy == 0


async def test_cancel_frees_the_slot_within_one_step_and_the_next_request_starts(
    tiny_model, make_engine
):
    engine = make_engine(tiny_model, n_parallel=1, n_ctx=2048)
    released = []
    released_event = threading.Event()

    def on_release(seq):
        released.append((seq.cancel_step, seq.release_step, engine.kv_tokens(seq.slot)))
        released_event.set()

    engine.on_release = on_release
    long_run = engine.generate(
        tiny_model.tokenize("hello"), SamplingOptions(temperature=0, num_predict=2000)
    )
    await long_run.__anext__()
    await long_run.__anext__()
    waiting = asyncio.create_task(run(engine, tiny_model, "world", **greedy(num_predict=8)))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the only slot is taken
    await long_run.aclose()  # the client went away
    _, _, last = await asyncio.wait_for(waiting, 10)
    cancel_step, release_step, kv_left = released[0]
    assert release_step - cancel_step <= 1
    assert kv_left == 0  # its KV cells were freed
    assert last.stats.eval_count == 8
    assert engine.free_slots == 1


async def test_cancelling_the_consumer_task_frees_the_slot(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_parallel=1, n_ctx=2048)
    released = []
    engine.on_release = lambda seq: released.append((seq.cancel_step, seq.release_step))
    started = asyncio.Event()

    async def consume():
        async for _ in engine.generate(
            tiny_model.tokenize("hi"), SamplingOptions(temperature=0, num_predict=2000)
        ):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(run(engine, tiny_model, "hi", **greedy(num_predict=3)), 10)
    assert released[0][1] - released[0][0] <= 1
    assert engine.free_slots == 1


async def test_prompt_longer_than_the_context_names_both_counts(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_ctx=64)
    tokens = tiny_model.tokenize("hello world " * 40)
    with pytest.raises(ContextTooLong) as info:
        async for _ in engine.generate(tokens, SamplingOptions()):
            pass
    assert str(len(tokens)) in info.value.message
    assert "64" in info.value.message


async def test_generation_stops_when_the_context_is_full(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_ctx=32)
    _, _, last = await run(engine, tiny_model, "hello world", **greedy(num_predict=1000))
    assert last.done_reason == "length"
    assert last.stats.prompt_eval_count + last.stats.eval_count == 32


async def test_prompt_cache_reuses_a_shared_prefix_without_changing_output(tiny_model, make_engine):
    engine = make_engine(tiny_model, n_parallel=1)
    cached = []
    engine.on_release = lambda seq: cached.append(seq.n_cached)
    prompt = "hello world the cat and the dog"
    await run(engine, tiny_model, prompt, **greedy())
    second, _, _ = await run(engine, tiny_model, prompt + " and", **greedy())
    fresh, _, _ = await run(make_engine(tiny_model), tiny_model, prompt + " and", **greedy())
    assert cached[0] == 0
    assert cached[1] >= len(tiny_model.tokenize(prompt)) - 1
    assert second == fresh


async def test_close_fails_requests_still_running(tiny_model, make_engine):
    from ollama_gateway.errors import ServiceUnavailable

    # far more tokens than can be decoded before close() runs, even on a loaded machine
    engine = make_engine(tiny_model, n_parallel=1, n_ctx=32768)
    gen = engine.generate(
        tiny_model.tokenize("hi"), SamplingOptions(temperature=0, num_predict=32000)
    )
    await gen.__anext__()
    await asyncio.to_thread(engine.close)
    with pytest.raises(ServiceUnavailable):
        while True:
            await gen.__anext__()


async def test_a_bad_grammar_fails_that_request_only(tiny_model, make_engine):
    from ollama_gateway.errors import BadRequest

    engine = make_engine(tiny_model, n_parallel=1)
    with pytest.raises(BadRequest) as err:
        await run(engine, tiny_model, "hello", **greedy(grammar="root ::= ((("))
    assert "grammar" in err.value.message
    _, _, last = await run(engine, tiny_model, "hello", **greedy(num_predict=4))
    assert last.stats.eval_count == 4
    assert engine.free_slots == 1
