"""Fixtures for the admission tests: the shared fake Ollama, whose model ``hold`` keeps each reply
open until the test releases it; reset and released after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_ollama import FakeOllama


@pytest.fixture
def upstream(ollama: FakeOllama) -> Iterator[FakeOllama]:
    ollama.script("hold", hold=True)
    yield ollama
    ollama.release_held()  # nothing stays held for the next test
