"""The database goes down mid-run: keys keep working from the cache, usage is buffered up to a
bound (then dropped and counted), and writing resumes when the database is back."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from ollama_gateway.accounts.db import async_url, create_engine
from ollama_gateway.accounts.store import SqlStore
from tests.support.databases import PostgresServer
from tests.support.secrets import KEY_A, NEVER_LOGGED


@pytest.fixture
def own_postgres():
    server = PostgresServer().start()  # its own: this test stops it
    yield server
    server.stop(remove=True)


def _metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", headers={"X-API-KEY": KEY_A}).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def _event_count(url: str) -> int:
    store = SqlStore(create_engine(async_url(url)))
    try:
        return len(await store.events(limit=100_000))
    finally:
        await store.close()


def test_requests_go_on_while_the_database_is_down(own_postgres, fake_ollama, gateway_with):
    database = own_postgres.database()
    with gateway_with(
        backend="ollama", ollama_url=fake_ollama.url, api_keys=KEY_A, database_url=database,
        key_refresh=0.2, usage_buffer=5,
    ) as (url, _):  # fmt: skip
        created = httpx.post(url + "/admin/keys", json={"name": "team"},
                             headers={"X-API-KEY": KEY_A}).json()  # fmt: skip
        key = {"X-API-KEY": created["key"]}
        NEVER_LOGGED.append(created["key"])

        def generate() -> int:
            body = {"model": "llama2", "prompt": "x"}
            return httpx.post(url + "/api/generate", json=body, headers=key, timeout=30).status_code

        assert generate() == 200
        deadline = time.monotonic() + 20
        while asyncio.run(_event_count(database)) < 2:  # the admin call and the generation
            assert time.monotonic() < deadline
            time.sleep(0.1)

        own_postgres.stop()
        time.sleep(0.5)  # a few failed key reloads: the cache keeps the keys
        assert [generate() for _ in range(8)] == [200] * 8
        assert _metric(url, "ollama_gateway_usage_events_dropped_total") >= 3  # buffer of 5
        assert _metric(url, "ollama_gateway_usage_events_buffered") == 5

        own_postgres.start()
        deadline = time.monotonic() + 60
        while asyncio.run(_event_count(database)) < 2 + 5:  # the buffered five arrive
            assert time.monotonic() < deadline, "usage writing did not resume"
            time.sleep(0.2)
        assert generate() == 200
