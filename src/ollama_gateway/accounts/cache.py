"""Keys served from memory: the request path never waits for the database.

:class:`KeyCache` holds the bootstrap keys (settings and keys file, fixed) and the stored keys
(reloaded from the store every ``key_refresh`` seconds, and at once when told a key changed: by
this process's admin API, or by another replica through Redis). When the database is down the
last loaded keys keep serving.

Lookup: a presented key is hashed once (SHA-256); bootstrap keys are compared in constant time
(:func:`secrets.compare_digest`, no early exit), stored keys are found by their digest in a dict
and then compared the same way.

``enabled`` (keys are required) is sticky: once any key exists, deleting every stored key does
not open the gateway again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.store import KeyStore
from ollama_gateway.http.auth import KeyRing, digest_of

log = logging.getLogger(__name__)


class KeyCache:
    def __init__(self, bootstrap: KeyRing, store: KeyStore | None, refresh: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.refresh_every = refresh
        self._stored: dict[bytes, KeyRecord] = {}
        self._by_id: dict[str, KeyRecord] = {}
        self._enabled = bootstrap.enabled
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.loaded_at = 0.0
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def __len__(self) -> int:
        return len(self.bootstrap) + len(self._stored)

    def match(self, presented: str | None) -> KeyRecord | None:
        """The usable key ``presented`` is (disabled and expired keys are not), or None."""
        if not presented:
            return None
        digest = digest_of(presented)
        found = self.bootstrap.match_digest(digest)
        if found is None:
            stored = self._stored.get(digest)
            if stored is not None and secrets.compare_digest(stored.digest, digest):
                found = stored
        if found is None or not found.usable():
            return None
        return found

    def by_id(self, key_id: str) -> KeyRecord | None:
        return self._by_id.get(key_id)

    # -- loading --------------------------------------------------------------------------
    async def load(self) -> bool:
        """Reload the stored keys; False (and the old keys kept) when the store failed."""
        if self.store is None:
            return True
        try:
            records = await self.store.records()
        except Exception as exc:  # the database is down: keep serving what we have
            self.failures += 1
            log.warning("cannot reload keys from the database (keeping %d): %s", len(self), exc)
            return False
        self._stored = {r.digest: r for r in records}
        self._by_id = {r.id: r for r in records}
        if records:
            self._enabled = True
        self.loaded_at = time.monotonic()
        return True

    def invalidate(self) -> None:
        """Reload soon (a key changed)."""
        self._wake.set()

    def start(self) -> None:
        if self.store is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="key-cache")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_every)
            self._wake.clear()
            await self.load()
