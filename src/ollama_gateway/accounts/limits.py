"""One key's limits in this process, checked in one call: rpm and tpm buckets, quotas.

:class:`KeyLimits` is made once per key (and refreshed when the key's record changes), so that
admitting a request is a handful of comparisons: no buckets or callbacks are built per request.
The buckets are the continuously refilled ones of :mod:`ollama_gateway.http.ratelimit` (same
numbers, same ``X-RateLimit-*`` headers, same 429s); the quota counts are the
:class:`~ollama_gateway.accounts.quotas.QuotaBook`'s own lists, shared, so its day and month
roll-over and its seeding from the database apply here too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ollama_gateway.accounts.quotas import QuotaBook
from ollama_gateway.accounts.records import KeyRecord
from ollama_gateway.core.usage import Usage
from ollama_gateway.http.ratelimit import Headers, KeyRateLimited

NO_LIMIT = float("inf")


class KeyLimits:
    """A key's buckets and quota counts; :meth:`admit` counts one request or raises."""

    __slots__ = (
        "_rpm_header",
        "_tpm_header",
        "caps",
        "charges",
        "clock",
        "counts",
        "quotas",
        "r_level",
        "r_rate",
        "r_stamp",
        "record",
        "rpm",
        "t_level",
        "t_rate",
        "t_stamp",
        "totals",
        "tpm",
        "unlimited",
    )

    def __init__(
        self,
        key: KeyRecord,
        rpm: int,
        tpm: int,
        quotas: QuotaBook,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quotas = quotas
        self.clock = clock
        now = clock()
        self.r_level = self.t_level = 0.0
        self.r_stamp = self.t_stamp = now
        self.rpm = self.tpm = 0
        self.refresh(key, rpm, tpm)

    def refresh(self, key: KeyRecord, rpm: int, tpm: int) -> None:
        """The key's record (or the defaults) changed: new limits, the levels carried over."""
        self.record = key
        if rpm != self.rpm:
            self.r_level = float(rpm)
        if tpm != self.tpm:
            self.t_level = float(tpm)
        self.rpm, self.tpm = rpm, tpm
        self.r_rate, self.t_rate = rpm / 60.0, tpm / 60.0  # per second, as the buckets count
        self._rpm_header = (b"x-ratelimit-limit", b"%d" % rpm)
        self._tpm_header = (b"x-ratelimit-limit-tokens", b"%d" % tpm)
        self.counts = self.quotas.counts_of(key.subject) if key.has_quota else None
        self.caps = tuple(
            NO_LIMIT if limit is None else limit
            for limit in (
                key.tokens_per_day,
                key.requests_per_day,
                key.tokens_per_month,
                key.requests_per_month,
            )
        )
        self.unlimited = not (rpm or tpm or key.has_quota or key.max_concurrent)
        self.charges: list[Callable[[int], None]] = [self.charge] if tpm else []
        self.totals: list[Callable[[int], None]] = [self.total] if key.has_quota else []

    def admit(self) -> tuple[Headers, Usage]:
        """Count one request: its reply headers and usage record (or raise 429)."""
        now = self.clock()
        counts = self.counts
        if counts is not None:
            if now >= self.quotas.day_ends:
                self.quotas.roll()
            caps = self.caps
            if (
                counts[0] >= caps[0]
                or counts[1] >= caps[1]
                or counts[2] >= caps[2]
                or counts[3] >= caps[3]
            ):
                self.quotas.refuse(self.record, counts)
        headers: Headers = []
        rpm, tpm = self.rpm, self.tpm
        r_level = t_level = 1.0
        if rpm:
            if now > self.r_stamp:
                self.r_level = min(rpm, self.r_level + (now - self.r_stamp) * self.r_rate)
                self.r_stamp = now
            r_level = self.r_level
        if tpm:
            if now > self.t_stamp:
                self.t_level = min(tpm, self.t_level + (now - self.t_stamp) * self.t_rate)
                self.t_stamp = now
            t_level = self.t_level
        if r_level < 1.0 or t_level < 1.0:
            raise self._refusal()
        if rpm:
            self.r_level = r_level = r_level - 1.0
            headers = [
                self._rpm_header,
                (b"x-ratelimit-remaining", b"%d" % max(0, int(r_level))),
                (b"x-ratelimit-reset", b"%d" % math.ceil((rpm - r_level) / self.r_rate)),
            ]
        if tpm:
            headers += [
                self._tpm_header,
                (b"x-ratelimit-remaining-tokens", b"%d" % max(0, int(t_level))),
                (b"x-ratelimit-reset-tokens", b"%d" % math.ceil((tpm - t_level) / self.t_rate)),
            ]
        if counts is not None:
            counts[1] += 1
            counts[3] += 1
        return headers, Usage(0, self.charges, 0, self.totals)

    def charge(self, tokens: int) -> None:
        """Generated tokens out of the tpm bucket (it may go into debt)."""
        now = self.clock()
        if now > self.t_stamp:
            self.t_level = min(self.tpm, self.t_level + (now - self.t_stamp) * self.t_rate)
            self.t_stamp = now
        self.t_level -= tokens

    def total(self, tokens: int) -> None:
        """Prompt + generated tokens onto the day's and the month's quota counts (a request
        that ends just after midnight UTC counts on the day it was admitted)."""
        counts = self.counts
        if counts is not None:
            counts[0] += tokens
            counts[2] += tokens

    def headers(self) -> Headers:
        out: Headers = []
        for capacity, rate, level, suffix in (
            (self.rpm, self.r_rate, self.r_level, b""),
            (self.tpm, self.t_rate, self.t_level, b"-tokens"),
        ):
            if capacity:
                out.append((b"x-ratelimit-limit" + suffix, b"%d" % capacity))
                out.append((b"x-ratelimit-remaining" + suffix, b"%d" % max(0, int(level))))
                reset = math.ceil(max(0.0, capacity - level) / rate)
                out.append((b"x-ratelimit-reset" + suffix, b"%d" % reset))
        return out

    def _refusal(self) -> KeyRateLimited:
        wait = 0.0
        what = ""
        rpm, tpm = self.rpm, self.tpm
        if rpm and self.r_level < 1.0:
            wait = (1.0 - self.r_level) / self.r_rate
            what = f"{rpm} request{'s' if rpm != 1 else ''}"
        if tpm and self.t_level < 1.0 and (1.0 - self.t_level) / self.t_rate > wait:
            wait = (1.0 - self.t_level) / self.t_rate
            what = f"{tpm} generated token{'s' if tpm != 1 else ''}"
        return KeyRateLimited(
            f"rate limit exceeded: {what} per minute; retry in {math.ceil(wait)} s",
            wait,
            self.headers(),
        )
