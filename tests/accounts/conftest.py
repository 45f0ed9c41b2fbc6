"""Databases for the accounts tests: SQLite files and a real PostgreSQL server, a real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.support.databases import PostgresServer, RedisServer
from tests.support.live import serve


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop(remove=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind: the same tests run against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return request.getfixturevalue("postgres").database()


@pytest.fixture
def gateway_with(make_settings) -> Callable:
    """``with gateway_with(backend_instance, **settings) as (url, app)``: a live gateway."""
    from ollama_gateway.app import create_app

    @contextmanager
    def run(instance=None, **values) -> Iterator[tuple[str, object]]:
        app = create_app(make_settings(**values), backend=instance)
        with serve(app) as url:
            yield url, app

    return run
