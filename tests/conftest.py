"""Shared fixtures: clean environment, per-test settings and apps, the fake Ollama, log capture."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_ollama import CAPABLE_MODELS, FakeOllama

_ENV = ("API_KEY", "MODEL_NAME", "OLLAMA_HOST", "OLLAMA_MODELS")
LOG_RECORDS: list[str] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            LOG_RECORDS.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not a test failure here
            LOG_RECORDS.append(str(record.msg))


_COLLECT = _Collect(level=logging.DEBUG)
_COLLECT.setFormatter(logging.Formatter("%(name)s %(message)s"))


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_COLLECT)
    root.setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def _log_capture() -> Iterator[None]:
    """Every test logs into the capture, and leaves the root logger as it found it: a test that
    runs ``serve`` in-process (``configure_logging`` replaces the root's handlers) must not
    silently detach the capture for the rest of the run, nor leave its own handler behind."""
    root = logging.getLogger()
    if _COLLECT not in root.handlers:
        root.addHandler(_COLLECT)
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# Every test in these directories runs llama.cpp (or the packaged real model): the slow tier.
_SLOW_DIRS = ("backends/llama_cpp", "testing", "realmodel")
# So does every test using one of these fixtures (llama.cpp's grammar engine on the real
# vocabulary; a served embedded engine).
_SLOW_FIXTURES = {"engine_gateway", "llama", "tiny"}
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under the llama.cpp directories are ``slow``; the log audit runs last, over
    everything the run logged."""
    for item in items:
        where = Path(str(item.path)).resolve().relative_to(_TESTS).as_posix()
        if where.startswith(_SLOW_DIRS) or _SLOW_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.name.startswith("test_whole_run_logs"))


@pytest.fixture(scope="session")
def gateway_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """Where every gateway of the run keeps its own data (the default SQLite key database)."""
    return tmp_path_factory.mktemp("gateway-data")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, gateway_data_dir) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OLLAMA_GATEWAY_") or name in _ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(os.path.dirname(__file__))  # no stray .env from the caller's directory
    # never the user's home: gateways (and the processes tests start) keep their data here
    monkeypatch.setenv("OLLAMA_GATEWAY_DATA_DIR", str(gateway_data_dir))


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    """The run's fake Ollama; its models: ``CAPABLE_MODELS`` (what else, each test scripts)."""
    with FakeOllama(behaviours=CAPABLE_MODELS) as server:
        yield server


@pytest.fixture
def ollama(fake_ollama: FakeOllama) -> Iterator[FakeOllama]:
    """The shared fake Ollama, with no scripts, queued replies or requests left by another test."""
    fake_ollama.reset()
    yield fake_ollama
    fake_ollama.reset()


@pytest.fixture
def standin() -> Iterator[FakeOllama]:
    """A fake Ollama of this test's own that answers what the test queues
    (:meth:`FakeOllama.queue`): what a healthy server never sends but a client must survive."""
    with FakeOllama() as server:
        yield server


@pytest.fixture
def make_settings() -> Callable:
    from ollama_gateway.settings import Settings

    def make(**values):
        return Settings(_env_file=None, **values)

    return make
