"""Fixtures for the admission tests: the shared fake Ollama, reset and released after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_ollama import FakeOllama


@pytest.fixture
def upstream(ollama: FakeOllama) -> Iterator[FakeOllama]:
    ollama.ended.clear()
    ollama.disconnects = 0
    yield ollama
    ollama.release_held()  # nothing stays held for the next test
