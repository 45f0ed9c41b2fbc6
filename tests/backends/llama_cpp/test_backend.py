"""The embedded backend end to end: real models from files and from the Ollama-layout store."""

from __future__ import annotations

import asyncio
import json
import math
import threading

import pytest

from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.llama_cpp.backend import EmbeddedBackend
from ollama_gateway.core.service import GenerationService
from ollama_gateway.core.types import EmbedRequest, GenerationRequest, Message
from ollama_gateway.errors import BadRequest, ContextTooLong, ModelLoadError, ModelNotFound
from ollama_gateway.models.store import ModelStore
from tests.backends.llama_cpp.conftest import TINY, store_model
from tests.support.gguf_models import write_tiny_llama


@pytest.fixture
async def backend(tmp_path, make_settings, tiny_path):
    settings = make_settings(
        models_dir=tmp_path / "store",
        num_ctx=512,
        parallel=2,
        num_threads=1,
        model=str(tiny_path),  # served as TINY
        max_loaded_models=2,
    )
    b = EmbeddedBackend(settings)
    yield b
    await b.close()


def greedy(n: int = 16, **extra) -> dict:
    return {"temperature": 0, "num_predict": n, **extra}


async def collect(stream):
    return [chunk async for chunk in stream]


def request(model: str, prompt="hello world", **extra) -> GenerationRequest:
    extra.setdefault("options", greedy())
    return GenerationRequest(model=model, prompt=prompt, **extra)


def test_it_is_a_backend(backend):
    assert isinstance(backend, Backend)
    assert backend.splits_thinking is False


async def test_generate_streams_text_with_stats(backend, tiny_path):
    chunks = await collect(backend.generate(request(TINY)))
    last = chunks[-1]
    assert last.done and last.done_reason == "length"
    assert all(not c.done for c in chunks[:-1])
    assert "".join(c.text for c in chunks)
    assert {c.model for c in chunks} == {TINY}
    stats = last.stats
    assert stats.eval_count == 16
    assert stats.total_duration >= stats.load_duration > 0
    assert stats.total_duration >= stats.prompt_eval_duration + stats.eval_duration
    assert last.context  # generate returns its context tokens, as Ollama does


async def test_streamed_chunks_join_to_the_non_streamed_text(backend, tiny_path, make_settings):
    service = GenerationService(backend, make_settings())
    streamed = await collect(service.stream(request(TINY, stream=True)))
    whole = await service.complete(request(TINY, stream=False))
    assert "".join(c.text for c in streamed) == whole.text
    assert whole.done_reason == streamed[-1].done_reason
    assert len(streamed) > 2


async def test_chat_uses_the_gguf_chat_template(backend, tiny_path, tiny_model):
    chat = GenerationRequest(
        model=TINY, kind="chat", messages=[Message("user", "hi")], options=greedy()
    )
    chunks = await collect(backend.chat(chat))
    raw = request(TINY, "<s><|user|>hi<|end|><|assistant|>", raw=True)
    same = await collect(backend.generate(raw))
    assert "".join(c.text for c in chunks) == "".join(c.text for c in same)
    assert chunks[-1].stats.prompt_eval_count == len(
        tiny_model.tokenize("<|user|>hi<|end|><|assistant|>")
    )  # one BOS, from the template: none added twice
    assert chunks[-1].context is None


async def test_format_json_schema_constrains_the_output(backend, tiny_path):
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    chunks = await collect(backend.generate(request(TINY, format=schema, options=greedy(200))))
    value = json.loads("".join(c.text for c in chunks))
    assert isinstance(value["n"], int)


async def test_empty_prompt_loads_the_model(backend, tiny_path):
    chunks = await collect(backend.generate(request(TINY, "")))
    assert [c.done_reason for c in chunks] == ["load"]
    assert [m.name for m in await backend.running()] == [TINY]
    chunks = await collect(backend.generate(request(TINY, "", keep_alive=0)))
    assert [c.done_reason for c in chunks] == ["unload"]
    assert await backend.running() == []


async def test_empty_chat_loads_the_model(backend, tiny_path):
    chat = GenerationRequest(model=TINY, kind="chat", messages=[])
    chunks = await collect(backend.chat(chat))
    assert chunks[-1].done_reason == "load"


async def test_keep_alive_zero_unloads_after_the_request(backend, tiny_path):
    await collect(backend.generate(request(TINY, keep_alive=0)))
    assert await backend.running() == []


async def test_keep_alive_expiry_unloads_an_idle_model(backend, tiny_path):
    await collect(backend.generate(request(TINY, keep_alive=0.3)))
    assert len(await backend.running()) == 1
    for _ in range(50):
        if not await backend.running():
            break
        await asyncio.sleep(0.1)
    assert await backend.running() == []


async def test_negative_keep_alive_keeps_it_forever(backend, tiny_path):
    await collect(backend.generate(request(TINY, keep_alive=-1)))
    [running] = await backend.running()
    assert running.expires_at.startswith("2318")
    assert running.context_length == 512


async def test_least_recently_used_model_is_unloaded_first(backend, tmp_path, tiny_path):
    other = store_model(backend.store, write_tiny_llama(tmp_path / "b.gguf", seed=2), "b:latest")
    third = store_model(backend.store, write_tiny_llama(tmp_path / "c.gguf", seed=3), "c:latest")
    await collect(backend.generate(request(TINY)))
    await collect(backend.generate(request(other)))
    await collect(backend.generate(request(TINY)))  # tiny is now the most recent
    await collect(backend.generate(request(third)))
    assert sorted(m.name for m in await backend.running()) == sorted([TINY, third])


async def test_a_busy_model_is_never_unloaded_a_new_one_waits(tmp_path, make_settings, tiny_path):
    settings = make_settings(
        models_dir=tmp_path / "s",
        num_ctx=4096,
        num_threads=1,
        max_loaded_models=1,
        model=str(tiny_path),
    )
    backend = EmbeddedBackend(settings)
    other = store_model(backend.store, write_tiny_llama(tmp_path / "b.gguf", seed=2), "b:latest")
    try:
        busy = backend.generate(request(TINY, options=greedy(5000)))
        await busy.__anext__()
        waiting = asyncio.create_task(collect(backend.generate(request(other))))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        assert [m.name for m in await backend.running()] == [TINY]
        await busy.aclose()
        chunks = await asyncio.wait_for(waiting, 10)
        assert chunks[-1].done
        assert [m.name for m in await backend.running()] == [other]
    finally:
        await backend.close()


async def test_garbage_file_is_a_load_error_and_others_keep_working(backend, tmp_path, tiny_path):
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"this is not a model at all" * 100)
    store_model(backend.store, garbage, "garbage:latest")
    with pytest.raises(ModelLoadError) as err:
        await collect(backend.generate(request("garbage")))
    assert '"garbage:latest"' in err.value.message
    assert "not a GGUF" in err.value.message
    assert err.value.status_code == 500
    chunks = await collect(backend.generate(request(TINY)))
    assert chunks[-1].done_reason == "length"


async def test_truncated_file_is_a_load_error(backend, tmp_path, tiny_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_path.read_bytes()[: tiny_path.stat().st_size // 2])
    store_model(backend.store, truncated, "truncated:latest")
    with pytest.raises(ModelLoadError) as err:
        await collect(backend.generate(request("truncated")))
    assert '"truncated:latest"' in err.value.message
    assert len(err.value.message) > len('failed to load model "truncated:latest": ')


async def test_unknown_architecture_is_a_load_error(backend, tmp_path, tiny_path):
    data = tiny_path.read_bytes().replace(b"llama", b"llamb", 1)  # general.architecture
    odd = tmp_path / "odd.gguf"
    odd.write_bytes(data)
    store_model(backend.store, odd, "odd:latest")
    with pytest.raises(ModelLoadError) as err:
        await collect(backend.generate(request("odd")))
    assert "llamb" in err.value.message


async def test_missing_model_is_not_found(backend, tmp_path):
    with pytest.raises(ModelNotFound):
        await collect(backend.generate(request("nothing-here:latest")))
    with pytest.raises(BadRequest, match="invalid model name"):  # a path is never a name
        await collect(backend.generate(request(str(tmp_path / "absent.gguf"))))


async def test_prompt_too_long_names_both_counts(backend, tiny_path, tiny_model):
    prompt = "hello world " * 300
    n = len(tiny_model.tokenize(prompt))
    with pytest.raises(ContextTooLong) as err:
        await collect(backend.generate(request(TINY, prompt, raw=True)))
    assert str(n) in err.value.message and "512" in err.value.message


async def test_wrong_option_type_is_a_400(backend, tiny_path):
    with pytest.raises(BadRequest):
        await collect(backend.generate(request(TINY, options={"temperature": "warm"})))


async def test_request_num_ctx_lowers_the_limit(backend, tiny_path):
    chunks = await collect(
        backend.generate(request(TINY, options={"num_ctx": 16, "num_predict": 100}))
    )
    stats = chunks[-1].stats
    assert stats.prompt_eval_count + stats.eval_count == 16
    assert chunks[-1].done_reason == "length"


async def test_named_model_from_the_store_uses_its_template_and_params(backend, tiny_path):
    store: ModelStore = backend.store
    await asyncio.to_thread(
        store.import_gguf,
        tiny_path,
        "tinier:latest",
        template="{{ .System }}|{{ .Prompt }}|",
        system="SYS",
        params={"num_predict": 3, "temperature": 0},
    )
    chunks = await collect(backend.generate(GenerationRequest(model="tinier", prompt="hi")))
    assert chunks[-1].stats.eval_count == 3  # from the params layer
    direct = await collect(backend.generate(request(TINY, "SYS|hi|", raw=True, options=greedy(3))))
    assert "".join(c.text for c in chunks) == "".join(c.text for c in direct)
    # the operator's file first, then the store's models
    assert [m.name for m in await backend.list_models()] == [TINY, "tinier:latest"]
    shown = await backend.show("tinier")
    assert shown["template"] == "{{ .System }}|{{ .Prompt }}|"
    assert shown["system"] == "SYS"
    assert "num_predict" in shown["parameters"]
    await backend.copy("tinier", "tiny2:latest")
    listed = sorted(m.name for m in await backend.list_models())
    assert listed == ["tinier:latest", "tiny2:latest", TINY]
    await backend.delete("tinier")
    assert [m.name for m in await backend.list_models()] == [TINY, "tiny2:latest"]


async def test_show_describes_the_gguf(backend, tiny_path, tiny_model):
    shown = await backend.show(TINY)
    info = shown["model_info"]
    assert info["general.architecture"] == "llama"
    assert info["llama.embedding_length"] == 64
    assert info["tokenizer.ggml.tokens"] is None
    assert info["general.parameter_count"] == tiny_model.n_params
    assert shown["details"]["family"] == "llama"
    assert "completion" in shown["capabilities"]
    verbose = await backend.show(TINY, verbose=True)
    assert len(verbose["model_info"]["tokenizer.ggml.tokens"]) == tiny_model.n_vocab


async def test_embed_returns_normalised_vectors(backend, tiny_path, tiny_model):
    result = await backend.embed(EmbedRequest(model=TINY, inputs=["hello", "world", "hello"]))
    a, b, c = result.embeddings
    assert len(a) == tiny_model.n_embd
    assert math.isclose(sum(v * v for v in a), 1.0, rel_tol=1e-5)
    assert a == c and a != b
    assert result.prompt_eval_count == 3 * len(tiny_model.tokenize("hello"))
    short = await backend.embed(EmbedRequest(model=TINY, inputs=["hello"], dimensions=8))
    assert len(short.embeddings[0]) == 8


async def test_embed_too_long_without_truncate(backend, tiny_path):
    long = "hello " * 600
    with pytest.raises(ContextTooLong):
        await backend.embed(EmbedRequest(model=TINY, inputs=[long], truncate=False))
    result = await backend.embed(EmbedRequest(model=TINY, inputs=[long]))
    assert result.prompt_eval_count == 512


async def test_check_ready(backend, tiny_path, make_settings, tmp_path):
    ok, why = await backend.check_ready()
    assert ok and "loads on first use" in why
    await collect(backend.generate(request(TINY, "")))
    ok, why = await backend.check_ready()
    assert ok and "is loaded" in why
    missing = EmbeddedBackend(make_settings(models_dir=tmp_path / "x", model="nope:1b"))
    ok, why = await missing.check_ready()
    assert not ok and "nope:1b" in why
    garbage = tmp_path / "bad.gguf"
    garbage.write_bytes(b"GGUF" + b"\0" * 64)
    broken = EmbeddedBackend(make_settings(models_dir=tmp_path / "x", model="bad:latest"))
    store_model(broken.store, garbage, "bad:latest")
    with pytest.raises(ModelLoadError):
        await collect(broken.generate(GenerationRequest(model="", prompt="")))
    ok, why = await broken.check_ready()
    assert not ok and "failed to load" in why


async def test_concurrent_requests_through_the_backend_match_alone(backend, tiny_path):
    prompts = ["hello world", "the cat", "water is hot", "one two"]
    alone = [
        "".join(c.text for c in await collect(backend.generate(request(TINY, p)))) for p in prompts
    ]
    together = await asyncio.gather(*(collect(backend.generate(request(TINY, p))) for p in prompts))
    assert ["".join(c.text for c in chunks) for chunks in together] == alone


async def test_deepseek_chat_on_a_qwen2_model(backend, qwen_path):
    qwen = store_model(backend.store, qwen_path, "qwen:latest")
    chat = GenerationRequest(
        model=qwen,
        kind="chat",
        messages=[Message("system", "Be terse."), Message("user", "Hi")],
        options=greedy(4),
    )
    chunks = await collect(backend.chat(chat))
    assert chunks[-1].stats.eval_count <= 4
    generate = GenerationRequest(model=qwen, prompt="Hi", system="Be terse.", options=greedy(4))
    last = (await collect(backend.generate(generate)))[-1]
    [loaded] = [m for m in backend.manager.models.values() if m.name == qwen]
    expected = loaded.model.tokenize(
        "<｜begin▁of▁sentence｜>Be terse.<｜User｜>Hi<｜Assistant｜><think>\n",  # noqa: RUF001
        add_special=False,
    )
    assert last.context[: len(expected)] == expected  # one BOS; special tokens as tokens
    assert last.context.count(loaded.model.bos) == 1
    assert chunks[-1].stats.prompt_eval_count == len(expected)


async def test_reasoning_opened_by_the_template_is_part_of_the_output(
    backend, qwen_path, make_settings
):
    qwen = store_model(backend.store, qwen_path, "qwen:latest")

    def chat(**extra):
        return GenerationRequest(
            model=qwen,
            kind="chat",
            messages=[Message("user", "Hi")],
            options=greedy(6),
            **extra,
        )

    raw = "".join(c.text for c in await collect(backend.chat(chat())))
    assert raw.startswith("<think>\n")  # as if the model had written it, as Ollama shows it
    off = "".join(c.text for c in await collect(backend.chat(chat(think=False))))
    assert not off.startswith("<think>")  # the template closed the block: no reasoning
    split = await GenerationService(backend, make_settings()).complete(chat(think=True))
    assert "</think>" not in raw  # this random model does not close it: all is reasoning
    assert split.thinking == raw.removeprefix("<think>").lstrip()  # as Ollama: no leading space
    assert split.text == ""


async def test_a_load_whose_request_went_away_is_kept_then_expires(
    tmp_path, make_settings, tiny_path
):
    backend = EmbeddedBackend(
        make_settings(
            models_dir=tmp_path / "s", num_threads=1, keep_alive="0.3s", model=str(tiny_path)
        )
    )
    real_load = backend.manager._load
    loading, go_on = threading.Event(), threading.Event()

    def held_load(resolved):  # the real load, held until the request is gone
        loading.set()
        go_on.wait(10)
        return real_load(resolved)

    backend.manager._load = held_load
    try:
        task = asyncio.create_task(collect(backend.generate(request(TINY))))
        assert await asyncio.to_thread(loading.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        go_on.set()
        for _ in range(100):
            if backend.manager.models:
                break
            await asyncio.sleep(0.02)
        [loaded] = backend.manager.models.values()  # the load finished and was registered
        assert loaded.active == 0
        for _ in range(100):
            if not backend.manager.models:
                break
            await asyncio.sleep(0.02)
        await backend.manager.drain()
        assert backend.manager.models == {}
        assert loaded.model._closed  # freed: nothing leaked
    finally:
        await backend.close()
