"""Admitting a request: per-minute limits, quotas and requests in flight, for the edge.

:class:`Gate` is what the gateway middleware calls for every limited request
(``await gate.admit(key, address)``). Each key gets its limits made once
(:class:`~ollama_gateway.accounts.limits.KeyLimits`: buckets and quota counts per process), so a
request is a few comparisons. With Redis, keyed requests are admitted from this process's
:class:`~ollama_gateway.accounts.lease.Lease` of the key's shared limits, and go to Redis
(:mod:`.shared`, one script, atomic across every process and replica) only when the lease is used
up; when Redis cannot be reached the ``redis_failure`` setting decides: ``open`` falls back to the
per-process limits, ``closed`` refuses the request (503). After a failure Redis is not asked again
for one second, so an outage does not add a timeout to every request. Requests without a key (no
keys configured) are limited per address by :class:`~ollama_gateway.http.ratelimit.RateLimiter`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ollama_gateway.accounts.lease import Lease
from ollama_gateway.accounts.limits import KeyLimits
from ollama_gateway.accounts.quotas import QuotaBook, next_day, next_month, quota_error
from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.shared import RedisShared
from ollama_gateway.core.usage import Usage
from ollama_gateway.errors import RateLimited, ServiceUnavailable
from ollama_gateway.http.ratelimit import Headers, KeyRateLimited, RateLimiter

log = logging.getLogger(__name__)

RETRY_REDIS = 1.0
NO_RELEASES: tuple[Callable[[], None], ...] = ()


@dataclass(slots=True)
class Admission:
    """An admitted request: headers for its reply, its usage record, what to do when it ends."""

    headers: Headers
    usage: Usage
    releases: Sequence[Callable[[], None]] = ()  # shared by a key's requests: read only

    def release(self) -> None:
        for release in self.releases:
            release()


class Gate:
    def __init__(
        self,
        limiter: RateLimiter,
        quotas: QuotaBook,
        shared: RedisShared | None = None,
        fail_closed: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = limiter  # requests without a key: per address
        self.quotas = quotas
        self.shared = shared
        self.fail_closed = fail_closed
        self.clock = clock
        self._redis_down_until = 0.0
        self.redis_failures = 0
        self._limits: dict[bytes, KeyLimits] = {}  # per key digest, made on first use

    @property
    def enabled(self) -> bool:
        return True

    async def admit(self, key: KeyRecord | None, address: str | None) -> Admission | None:
        if key is None:
            local = self.limiter.admit(None, address)
            return Admission(local.headers, local.usage) if local is not None else None
        limits = self._limits.get(key.digest)
        if limits is None or limits.record is not key:  # a new key, or its record changed
            limits = self._limits_for(key)
        if limits.unlimited:
            return None
        if self.shared is not None:
            if time.monotonic() >= self._redis_down_until:
                try:
                    return await self._admit_shared(key, limits)
                except RateLimited:
                    raise
                except Exception as exc:  # Redis unreachable or failing
                    self.redis_failures += 1
                    self._redis_down_until = time.monotonic() + RETRY_REDIS
                    log.warning("Redis limits unavailable (%s): failing %s", exc, self._mode())
            if self.fail_closed:
                raise ServiceUnavailable(
                    "limits are unavailable, try again later", retry_after=RETRY_REDIS
                )
        headers, usage = limits.admit()  # may raise QuotaExceeded or KeyRateLimited
        return Admission(headers, usage, NO_RELEASES)

    def _limits_for(self, key: KeyRecord) -> KeyLimits:
        rpm = key.rpm or self.limiter.rpm or 0
        tpm = key.tpm or self.limiter.tpm or 0
        limits = self._limits.get(key.digest)
        if limits is None:
            limits = self._limits[key.digest] = KeyLimits(key, rpm, tpm, self.quotas)
        else:
            limits.refresh(key, rpm, tpm)
        return limits

    def _mode(self) -> str:
        return "closed (503)" if self.fail_closed else "open (per-process limits)"

    async def _admit_shared(self, key: KeyRecord, limits: KeyLimits) -> Admission:
        assert self.shared is not None
        lease = self.shared.leases.get(key.digest)
        if lease is None or lease.record is not key:
            lease = self.shared.lease_for(key, limits.rpm, limits.tpm, limits.counts)
        now = time.monotonic()
        if not lease.take(now):
            await self._renew(key, lease, now)
        headers, usage = lease.admission()
        return Admission(headers, usage, lease.releases)

    async def _renew(self, key: KeyRecord, lease: Lease, now: float) -> None:
        """Take an admission after a round trip to Redis (one per key at a time)."""
        assert self.shared is not None
        while lease.syncing is not None:  # another request of this key is asking: wait for it
            error = await lease.syncing
            if error is not None:
                raise error
            now = time.monotonic()
            if lease.take(now):
                return
        done = lease.syncing = asyncio.get_running_loop().create_future()
        failure: Exception | None = None
        try:
            if now >= self.quotas.day_ends:
                self.quotas.roll()
            code, wait = await self.shared.sync(lease, self.quotas.today, now)
        except Exception as exc:
            failure = exc
            raise
        finally:
            lease.syncing = None
            done.set_result(failure)
        if code:
            raise _refusal(key, code, wait, lease.rpm, lease.tpm, self.quotas.today, self.clock())
        lease.taken(now)


def _refusal(key, code: int, wait: float, rpm: int, tpm: int, today, now) -> RateLimited:
    if code == 1:
        what = f"{rpm} request{'s' if rpm != 1 else ''}"
    elif code == 2:
        what = f"{tpm} generated token{'s' if tpm != 1 else ''}"
    elif code == 7:
        return RateLimited(
            f"too many requests in flight for this key (at most {key.max_concurrent})",
            retry_after=1.0,
        )
    else:
        what_, limit, period = {
            3: ("tokens", key.tokens_per_day, "day"),
            4: ("requests", key.requests_per_day, "day"),
            5: ("tokens", key.tokens_per_month, "month"),
            6: ("requests", key.requests_per_month, "month"),
        }[code]
        resets = next_day(today) if period == "day" else next_month(today)
        return quota_error(what_, limit, period, resets, now)
    return KeyRateLimited(
        f"rate limit exceeded: {what} per minute; retry in {math.ceil(wait)} s", wait, []
    )
