"""Admitting a request: per-minute limits, quotas and requests in flight, for the edge.

:class:`Gate` is what the gateway middleware calls for every limited request
(``await gate.admit(key, address)``). Without Redis it uses the per-process token buckets
(:class:`~ollama_gateway.http.ratelimit.RateLimiter`) and quota counts (:class:`QuotaBook`). With
Redis, keyed requests are admitted by one script there (:mod:`.shared`), atomically across every
process and replica; when Redis cannot be reached the ``redis_failure`` setting decides: ``open``
falls back to the per-process limits, ``closed`` refuses the request (503). After a failure Redis
is not asked again for one second, so an outage does not add a timeout to every request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ollama_gateway.accounts.quotas import QuotaBook, next_day, next_month, quota_error, utc_today
from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.accounts.shared import RedisShared
from ollama_gateway.core.usage import Usage
from ollama_gateway.errors import RateLimited, ServiceUnavailable
from ollama_gateway.http.ratelimit import Headers, KeyRateLimited, RateLimiter

log = logging.getLogger(__name__)

RETRY_REDIS = 1.0


@dataclass(slots=True)
class Admission:
    """An admitted request: headers for its reply, its usage record, what to do when it ends."""

    headers: Headers
    usage: Usage
    releases: list[Callable[[], None]] = field(default_factory=list)

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
        self.limiter = limiter
        self.quotas = quotas
        self.shared = shared
        self.fail_closed = fail_closed
        self.clock = clock
        self._redis_down_until = 0.0
        self.redis_failures = 0

    @property
    def enabled(self) -> bool:
        return True

    async def admit(self, key: KeyRecord | None, address: str | None) -> Admission | None:
        if key is None:
            local = self.limiter.admit(None, address)
            return Admission(local.headers, local.usage) if local is not None else None
        rpm = key.rpm or self.limiter.rpm or 0
        tpm = key.tpm or self.limiter.tpm or 0
        if not (rpm or tpm or key.has_quota or key.max_concurrent):
            return None
        if self.shared is not None and time.monotonic() >= self._redis_down_until:
            try:
                return await self._admit_shared(key, rpm, tpm)
            except RateLimited:
                raise
            except Exception as exc:  # Redis unreachable or failing
                self.redis_failures += 1
                self._redis_down_until = time.monotonic() + RETRY_REDIS
                log.warning("Redis limits unavailable (%s): failing %s", exc, self._mode())
                if self.fail_closed:
                    raise ServiceUnavailable(
                        "limits are unavailable, try again later", retry_after=RETRY_REDIS
                    ) from None
        elif self.shared is not None and self.fail_closed:
            raise ServiceUnavailable(
                "limits are unavailable, try again later", retry_after=RETRY_REDIS
            )
        return self._admit_local(key, address)

    def _mode(self) -> str:
        return "closed (503)" if self.fail_closed else "open (per-process limits)"

    def _admit_local(self, key: KeyRecord, address: str | None) -> Admission:
        if key.has_quota:
            self.quotas.admit(key)  # may raise QuotaExceeded
        local = self.limiter.admit(key, address)  # may raise KeyRateLimited
        admission = (
            Admission(local.headers, local.usage) if local is not None else Admission([], Usage())
        )
        if key.has_quota:
            admission.usage.totals.append(self.quotas.charge(key.subject))
        return admission

    async def _admit_shared(self, key: KeyRecord, rpm: int, tpm: int) -> Admission:
        assert self.shared is not None
        now = self.clock()
        today = utc_today(now)
        code, a, b = await self.shared.admit(key, rpm, tpm, today)
        if code:
            raise _refusal(key, code, a, rpm, tpm, today, now)
        headers: Headers = []
        if rpm:
            headers += _bucket_headers(b"", rpm, a)
        if tpm:
            headers += _bucket_headers(b"-tokens", tpm, b)
        shared = self.shared
        usage = Usage()
        if key.has_quota:
            usage.totals.append(self.quotas.charge(key.subject))  # kept warm for a fallback
        admission = Admission(headers, usage)

        # One settle per request: tokens (and the concurrency slot) when the generation ends;
        # the slot alone at the end of a request that never got that far.
        settled = [0, not key.max_concurrent]  # generated tokens sent; slot released

        def settle_tokens(total: int) -> None:
            generated = usage.tokens - settled[0]
            settled[0] = usage.tokens
            release = not settled[1]
            settled[1] = True
            shared.settle(key, today, generated, total, tpm, release=release)

        if tpm or key.has_quota or key.max_concurrent:
            usage.totals.append(settle_tokens)
        if key.max_concurrent:

            def release() -> None:
                if not settled[1]:
                    settled[1] = True
                    shared.settle(key, today, 0, 0, 0, release=True)

            admission.releases.append(release)
        return admission


def _bucket_headers(suffix: bytes, capacity: int, level: float) -> Headers:
    until_full = math.ceil(max(0.0, capacity - level) / (capacity / 60.0))
    return [
        (b"x-ratelimit-limit" + suffix, b"%d" % capacity),
        (b"x-ratelimit-remaining" + suffix, b"%d" % max(0, int(level))),
        (b"x-ratelimit-reset" + suffix, b"%d" % until_full),
    ]


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
