"""Shared fixtures: clean environment, per-test settings and apps, the fake Ollama, log capture."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
# Integration tests join the slow tier too (CI runs both tiers): each starts real processes
# (`ollama-gateway serve`, the supervisor, the container entrypoint, stand-in executables)...
_INTEGRATION = (
    "accounts/test_shared.py",  # two gateway processes sharing PostgreSQL and Redis
    "backends/router/test_faults.py",  # fake Ollama processes killed under load
    "cli/test_pipes.py",
    "cli/test_serve.py::test_serve_process",
    "cli/test_serve.py::test_workers_never",
    "core/test_shutdown.py",  # SIGTERM on a serve process
    "e2e/",  # the official clients against gateway processes
    "edge/test_edge_process.py",
    "observability/test_serve_logs.py",
    "test_config.py::test_a_served_fleet_from_a_config_file",
    "api/test_interactive_docs.py::test_swagger_ui_renders",  # a real browser
)
# ... or a supervisor or container entrypoint over stand-in executables, a real browser, or a
# real PostgreSQL/Redis server.
_INTEGRATION_FIXTURES = {"harness", "container_env", "browser", "postgres", "redis_server"}
_INTEGRATION_FIXTURES |= {"own_postgres"}
_TESTS = Path(__file__).resolve().parent


def _slow(item: pytest.Item) -> bool:
    where = Path(str(item.path)).resolve().relative_to(_TESTS).as_posix()
    node = where + item.nodeid.partition("::")[1] + item.nodeid.partition("::")[2]
    params = getattr(item, "callspec", None)
    return (
        where.startswith(_SLOW_DIRS)
        or bool(_SLOW_FIXTURES.intersection(item.fixturenames))
        or node.startswith(_INTEGRATION)
        or bool(_INTEGRATION_FIXTURES.intersection(item.fixturenames))
        or (params is not None and params.params.get("db_url") == "postgresql")
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of llama.cpp and integration tests are ``slow``; the log audit runs last, over
    everything the run logged."""
    for item in items:
        if _slow(item):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.name.startswith("test_whole_run_logs"))


@pytest.fixture(scope="session")
def gateway_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """Where every gateway of the run keeps its own data (the default SQLite key database)."""
    return tmp_path_factory.mktemp("gateway-data")


def _clean(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OLLAMA_GATEWAY_") or name in _ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(os.path.dirname(__file__))  # no stray .env from the caller's directory
    # never the user's home: gateways (and the processes tests start) keep their data here
    monkeypatch.setenv("OLLAMA_GATEWAY_DATA_DIR", str(data_dir))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, gateway_data_dir) -> None:
    _clean(monkeypatch, gateway_data_dir)


@pytest.fixture(scope="session")
def clean_env(gateway_data_dir) -> Callable[[], AbstractContextManager]:
    """``with clean_env():`` the environment every test gets, for fixtures wider than one test
    (a module's shared gateway is set up before the first test's own clean-up runs)."""

    @contextmanager
    def clean() -> Iterator[None]:
        with pytest.MonkeyPatch.context() as monkeypatch:
            _clean(monkeypatch, gateway_data_dir)
            yield

    return clean


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
