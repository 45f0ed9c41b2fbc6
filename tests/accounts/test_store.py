"""The key store against SQLite and a real PostgreSQL: the same tests for both."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ollama_gateway.accounts.db import HEAD, MIGRATIONS, async_url, create_engine, migrate
from ollama_gateway.accounts.store import KeyNotFound, SqlStore
from ollama_gateway.accounts.usage_event import UsageEvent


async def _store(url: str) -> SqlStore:
    engine = create_engine(async_url(url))
    assert await migrate(engine) == HEAD
    assert await migrate(engine) == HEAD  # a second start finds it current
    return SqlStore(engine)


def _event(key_id: str, model: str = "qwen2:0.5b", at: float | None = None, **more) -> UsageEvent:
    values = {
        "at": at if at is not None else time.time(),
        "key_id": key_id,
        "model": model,
        "api": "openai",
        "route": "/v1/chat/completions",
        "status": 200,
        "prompt_tokens": 10,
        "generated_tokens": 20,
        "duration_ms": 12.5,
        "ttft_ms": 3.0,
        "request_id": "r1",
        "stored_key": True,
    }
    values.update(more)
    return UsageEvent(**values)


def test_head_is_the_newest_migration():
    names = sorted(p.stem for p in (MIGRATIONS / "versions").glob("0*.py"))
    assert names[-1] == HEAD


async def test_keys_are_created_changed_rotated_and_removed_with_an_audit_trail(db_url):
    store = await _store(db_url)
    try:
        fields = {"name": "team-a", "models": ["qwen2*", "llama3"], "tokens_per_day": 100_000}
        record, key = await store.create_key(fields, actor="admin-1")
        assert key.startswith("ogw_") and len(key) > 40
        assert record["prefix"] == key[:12] and record["role"] == "user"
        assert "digest" not in record and key not in str(record)

        (loaded,) = await store.records()
        assert loaded.digest == hashlib.sha256(key.encode()).digest()
        assert loaded.models == ("qwen2*", "llama3") and loaded.tokens_per_day == 100_000
        assert loaded.allows("qwen2.5:7b") and not loaded.allows("mistral")

        updated = await store.update_key(record["id"], {"rpm": 60, "models": None}, "admin-1")
        assert updated["rpm"] == 60 and updated["models"] == []
        await store.update_key(record["id"], {"disabled": True}, "admin-2")
        assert not (await store.records())[0].usable()

        rotated, new_key = await store.rotate_key(record["id"], "admin-1")
        assert new_key != key and rotated["prefix"] == new_key[:12]
        assert (await store.records())[0].digest == hashlib.sha256(new_key.encode()).digest()

        await store.delete_key(record["id"], "admin-1")
        assert await store.records() == [] and await store.count_keys() == 0
        with pytest.raises(KeyNotFound):
            await store.get_key(record["id"])

        log = await store.audit_log()
        assert [e["action"] for e in log] == ["delete", "rotate", "disable", "update", "create"]
        assert [e["actor"] for e in log][2] == "admin-2"
        assert log[-1]["details"]["models"] == ["qwen2*", "llama3"]
        assert all(key not in str(e) and new_key not in str(e) for e in log)
    finally:
        await store.close()


async def test_usage_batches_roll_up_by_day_key_model_and_api(db_url):
    store = await _store(db_url)
    try:
        record, _ = await store.create_key({"name": "a"}, "admin")
        a = record["id"]
        yesterday = time.time() - 86400
        events = [_event(a) for _ in range(3)]
        events += [_event(a, model="llama3:8b", status=500, generated_tokens=0)]
        events += [_event("env:boot", stored_key=False, api="ollama", route="/api/chat")]
        events += [_event(a, at=yesterday)]
        await store.write_usage(events[:2])
        await store.write_usage(events[2:])  # the same rollup rows grow

        by_key = {row["key"]: row for row in await store.usage(["key"])}
        assert by_key[a]["requests"] == 5 and by_key[a]["errors"] == 1
        assert by_key[a]["prompt_tokens"] == 50 and by_key[a]["generated_tokens"] == 80
        assert by_key[a]["total_tokens"] == 130
        assert by_key["env:boot"]["requests"] == 1

        today = datetime.now(timezone.utc).date()
        by_day = await store.usage(["day"], key_id=a)
        assert [(r["day"], r["requests"]) for r in by_day] == [
            ((today - timedelta(days=1)).isoformat(), 1),
            (today.isoformat(), 4),
        ]
        by_model = await store.usage(["model"], since=today, key_id=a)
        assert [(r["model"], r["requests"]) for r in by_model] == [
            ("llama3:8b", 1),
            ("qwen2:0.5b", 3),
        ]
        assert [r["api"] for r in await store.usage(["api"])] == ["ollama", "openai"]

        quota = await store.quota_usage(today)
        assert quota[a][:2] == (90 + 10, 4)  # today: tokens, requests
        if today.day > 1:
            assert quota[a][2:] == (130, 5)  # the month includes yesterday

        assert (await store.get_key(a))["last_used_at"] is not None
        assert len(await store.events()) == 6
        removed = await store.prune_events(
            datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
        )
        assert removed == 1
        assert len(await store.events()) == 5
        assert (await store.usage(["key"], key_id=a))[0]["requests"] == 5  # rollups stay
    finally:
        await store.close()


async def test_the_writer_sustains_thousands_of_events_per_second(db_url):
    """Not a timing assertion: a 20,000-event load in 2,000-event batches all lands."""
    store = await _store(db_url)
    try:
        batch = [_event(f"k{i % 7}", model=f"m{i % 3}") for i in range(2000)]
        for _ in range(10):
            await store.write_usage(batch)
        rows = await store.usage(["key"])
        assert sum(r["requests"] for r in rows) == 20_000
    finally:
        await store.close()


def test_database_urls_become_async_dialects(tmp_path: Path):
    assert async_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert async_url("sqlite:///" + str(tmp_path / "x.db")).startswith("sqlite+aiosqlite:///")
    with pytest.raises(Exception, match="unsupported database"):
        async_url("mysql://h/db")
