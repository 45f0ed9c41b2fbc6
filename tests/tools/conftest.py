"""The real model's vocabulary, to check tool grammars with llama.cpp's own grammar engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gguf_models import smollm2_path
from tests.support.llama_grammar import LlamaGrammar


@pytest.fixture(scope="session")
def llama() -> Iterator[LlamaGrammar]:
    engine = LlamaGrammar(smollm2_path())
    yield engine
    engine.close()
