"""The accounts of one gateway: its database, key cache, limits, usage writer and key changes.

``create_app`` builds one :class:`Accounts`; the lifespan starts it (migrations, first key load,
quota counts, the background tasks) and closes it. The edge uses :attr:`cache` (which key is
this), :attr:`gate` (may it go on) and :meth:`record` (what did it use); the admin API uses
:attr:`store` and :meth:`changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from starlette.types import Scope

from ollama_gateway.accounts.admission import Gate
from ollama_gateway.accounts.cache import KeyCache
from ollama_gateway.accounts.db import create_engine, database_url, migrate, safe_url
from ollama_gateway.accounts.quotas import QuotaBook, utc_today
from ollama_gateway.accounts.recorder import UsageRecorder
from ollama_gateway.accounts.shared import RedisShared
from ollama_gateway.accounts.store import SqlStore, utcnow
from ollama_gateway.accounts.usage_event import UsageEvent
from ollama_gateway.api.errors import family_of
from ollama_gateway.http.auth import KeyRing
from ollama_gateway.http.ratelimit import RateLimiter
from ollama_gateway.observability.metrics import PREFIX, Metrics
from ollama_gateway.settings import Settings

log = logging.getLogger(__name__)

UNRECORDED = frozenset({"/health", "/ready", "/metrics"})
PRUNE_EVERY = 3600.0


class Accounts:
    def __init__(self, settings: Settings, keyring: KeyRing, metrics: Metrics | None = None):
        self.settings = settings
        self.url = database_url(settings)
        self.cache = KeyCache(keyring, None, settings.key_refresh)
        self.quotas = QuotaBook()
        self.shared = (
            RedisShared(settings.redis_url.get_secret_value()) if settings.redis_url else None
        )
        self.gate = Gate(
            RateLimiter.from_settings(settings, keyed=True),
            self.quotas,
            self.shared,
            fail_closed=settings.redis_failure == "closed",
        )
        self.store: SqlStore | None = None
        self.recorder: UsageRecorder | None = None
        self._tasks: list[asyncio.Task] = []
        self._dropped: Counter | None = None
        self._written: Counter | None = None
        if metrics is not None:
            self._bind_metrics(metrics)

    def _bind_metrics(self, metrics: Metrics) -> None:
        r = metrics.registry
        self._dropped = Counter(
            PREFIX + "usage_events_dropped",
            "Usage events dropped because the buffer was full (database slow or down).",
            registry=r,
        )
        self._written = Counter(
            PREFIX + "usage_events_written", "Usage events written to the database.", registry=r
        )
        buffered = Gauge(
            PREFIX + "usage_events_buffered", "Usage events waiting to be written.", registry=r
        )
        keys = Gauge(PREFIX + "api_keys", "Keys the gateway accepts (cached).", registry=r)

        def publish(_: Metrics) -> None:
            buffered.set(len(self.recorder.buffer) if self.recorder else 0)
            keys.set(len(self.cache))

        metrics.on_scrape(publish)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        engine = create_engine(self.url)
        await migrate(engine)  # raises DatabaseError: the gateway does not start
        self.store = store = SqlStore(engine)
        self.cache.store = store
        if not await self.cache.load():
            raise RuntimeError(f"cannot read keys from {safe_url(self.url)}")
        today = utc_today(time.time())
        totals = await store.quota_usage(today)
        self.quotas.seed(totals, today)
        if self.shared is not None:
            await self._seed_redis(totals, today)
            self.shared.start(self.cache.invalidate)
        self.recorder = UsageRecorder(
            store,
            capacity=self.settings.usage_buffer,
            on_drop=self._dropped.inc if self._dropped is not None else None,
            on_write=self._written.inc if self._written is not None else None,
        )
        self.recorder.start()
        self.cache.start()
        self._tasks.append(asyncio.create_task(self._prune(), name="usage-prune"))

    async def _seed_redis(self, totals, today) -> None:
        assert self.shared is not None
        try:
            for subject, counts in totals.items():
                record = self.cache.by_id(subject)
                if record is not None and record.has_quota:
                    await self.shared.seed(subject, today, counts)
        except Exception as exc:
            log.warning("cannot seed quota counts in Redis: %s", exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.cache.close()
        if self.recorder is not None:
            await self.recorder.close()
        if self.shared is not None:
            await self.shared.close()
        if self.store is not None:
            await self.store.close()

    async def _prune(self) -> None:
        days = self.settings.usage_retention_days
        while True:
            with contextlib.suppress(Exception):
                assert self.store is not None
                removed = await self.store.prune_events(utcnow() - timedelta(days=days))
                if removed:
                    log.info("removed %d usage events older than %d days", removed, days)
            await asyncio.sleep(PRUNE_EVERY)

    # -- the request path -----------------------------------------------------------------
    def record(
        self, scope: Scope, state: dict[str, Any], route: str, status: int, elapsed: float
    ) -> None:
        """One usage event for a finished request (buffered; never waits)."""
        recorder = self.recorder
        path = scope["path"]
        if recorder is None or path in UNRECORDED or scope["method"] in ("OPTIONS", "HEAD"):
            return
        key = state.get("api_key")
        if key is None and self.cache.enabled:
            return  # refused before a key was known (401): nothing to account
        ttft = state.get("ttft")
        family = family_of(path)
        recorder.record(
            UsageEvent(
                at=time.time(),
                key_id=key.subject if key is not None else "-",
                model=state.get("model", ""),
                api="ollama" if family == "seed" else family,
                route=route,
                status=status,
                prompt_tokens=state.get("prompt_tokens", 0),
                generated_tokens=state.get("generated_tokens", 0),
                duration_ms=round(elapsed * 1000, 3),
                ttft_ms=round(ttft * 1000, 3) if ttft is not None else None,
                request_id=state.get("request_id", ""),
                stored_key=key is not None and key.source == "db",
            )
        )

    # -- key changes ------------------------------------------------------------------------
    async def changed(self, key_id: str) -> None:
        """A key was created, changed or removed: reload here, tell the other replicas."""
        await self.cache.load()
        if self.shared is not None:
            try:
                await self.shared.publish(key_id)
            except Exception as exc:
                log.warning("cannot announce a key change through Redis: %s", exc)

    def describe(self) -> dict[str, Any]:
        return {
            "database": safe_url(self.url),
            "redis": self.shared is not None,
            "keys": len(self.cache),
        }
