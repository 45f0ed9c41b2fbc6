"""The random-weight GGUF generator: deterministic, small, loadable, realistic tokenizers."""

from __future__ import annotations

import gguf
import pytest

from ollama_gateway.backends.llama_cpp._lib import lib
from ollama_gateway.backends.llama_cpp.model import Model
from ollama_gateway.models.gguf_meta import (
    GGUFFormatError,
    plain_metadata,
    read_gguf,
    read_gguf_metadata,
)
from tests.support.gguf_models import (
    DEEPSEEK_BOS,
    DEEPSEEK_EOS,
    smollm2_path,
    tiny_vocab,
    write_qwen2,
    write_tiny_llama,
)


def test_tiny_llama_is_small_and_deterministic(tmp_path):
    a = write_tiny_llama(tmp_path / "a.gguf", seed=0)
    b = write_tiny_llama(tmp_path / "b.gguf", seed=0)
    c = write_tiny_llama(tmp_path / "c.gguf", seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert a.stat().st_size < 1_000_000


def test_tiny_vocab_has_bytes_and_multibyte_pieces():
    tokens, scores, types = tiny_vocab()
    assert 260 <= len(tokens) <= 840
    assert len(tokens) == len(scores) == len(types)
    assert tokens[3:259] == [f"<0x{b:02X}>" for b in range(256)]
    assert all(t == 6 for t in types[3:259])
    assert any(len(t.encode()) > len(t) for t in tokens[259:])  # multi-byte UTF-8 pieces


def test_tiny_llama_loads_and_round_trips_text(tmp_path):
    path = write_tiny_llama(tmp_path / "t.gguf", n_ctx=1024)
    model = Model.load(path)
    try:
        assert model.architecture == "llama"
        assert model.n_ctx_train == 1024
        assert model.n_vocab == len(tiny_vocab()[0])
        for text in ["hello world", "café über 日本語", "жук 🎉 x"]:
            tokens = model.tokenize(text, add_special=False)
            assert model.detokenize(tokens).strip() == text
        assert model.piece(3 + 0xD0) == b"\xd0"  # byte tokens decode as bytes
        assert model.chat_template is not None
    finally:
        model.free()


def test_our_metadata_reader_agrees_with_the_gguf_package(tmp_path):
    path = write_tiny_llama(tmp_path / "t.gguf")
    ours = plain_metadata(read_gguf_metadata(path))
    reader = gguf.GGUFReader(path)
    theirs = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        floats = isinstance(value, list) and value and isinstance(value[0], float)
        if isinstance(value, float) or floats:
            assert ours[key] == pytest.approx(value)
        else:
            assert ours[key] == value, key
    _, n_params = read_gguf(path, tensors=True)
    assert n_params == sum(int(t.n_elements) for t in reader.tensors)


def test_metadata_reader_refuses_other_files(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(GGUFFormatError):
        read_gguf_metadata(junk)
    short = tmp_path / "short.gguf"
    short.write_bytes(write_tiny_llama(tmp_path / "t.gguf").read_bytes()[:200])
    with pytest.raises(GGUFFormatError):
        read_gguf_metadata(short)


def test_qwen2_tiny_tokenizes_exactly_like_the_real_model_it_borrows_the_vocabulary_of(tmp_path):
    path = write_qwen2(tmp_path / "q.gguf", qtype="Q8_0")
    model = Model.load(path)
    lc = lib()
    params = lc.llama_model_default_params()
    params.vocab_only = True
    ref_path = smollm2_path()
    ref = lc.llama_model_load_from_file(str(ref_path).encode(), params)
    assert ref
    try:
        ref_model = Model(ref_path, ref)
        for text in [
            "Hello, world!",
            "  spaces and\ttabs\n",
            "数学 math ∑ 🎉",
            "def f(x): return x",
        ]:
            assert model.tokenize(text, add_special=False) == ref_model.tokenize(
                text, add_special=False
            )
        ids = model.tokenize("<｜User｜>hi<｜Assistant｜><think>", add_special=False)  # noqa: RUF001
        assert len(ids) == 4  # DeepSeek's added tokens are single tokens
        assert model.bos == DEEPSEEK_BOS and model.eos == DEEPSEEK_EOS
        assert model.is_eog(DEEPSEEK_EOS)
        assert "<｜Assistant｜>" in (model.chat_template or "")  # noqa: RUF001
        assert model.n_embd == 64 and model.architecture == "qwen2"
    finally:
        lc.llama_model_free(ref)
        model.free()


def test_qwen2_is_deterministic(tmp_path):
    a = write_qwen2(tmp_path / "a.gguf", qtype="Q8_0", seed=3)
    b = write_qwen2(tmp_path / "b.gguf", qtype="Q8_0", seed=3)
    assert a.read_bytes() == b.read_bytes()
